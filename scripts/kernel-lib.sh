#!/usr/bin/env bash
# Builds the Rust kernel library (librustkext.a) for one kernel target and prints its path.
# Used by build.sh and by tools/kextld's test on the project's own inputs.
# Usage: scripts/kernel-lib.sh x86_64|arm64e
# Linux: Debian's /usr/bin/cargo + rustc 1.96 with rust-web-src (TOOLCHAIN.md), KERNEL_HEADERS
# ignored (the library is built from ffi's committed KPI declarations, the same on every machine).
# macOS: the rustup toolchain with rust-src.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/kernel-flags.sh
. "$ROOT/scripts/kernel-flags.sh"
arch=$1
case $arch in x86_64 | arm64e) ;; *) echo "kernel-lib.sh: unknown architecture $arch" >&2; exit 2 ;; esac
flags=$KERNEL_RUSTFLAGS
[ "$arch" = arm64e ] && flags="$flags -Zbranch-protection=pac-ret,b-key"
if [ "$(uname -s)" = Linux ]; then
    # LIBCLANG_PATH for ffi's bindgen, as build.sh and test.sh set it (a different value would
    # rebuild bindgen).
    eval "$("$ROOT/scripts/setup.sh")"
    run=(env -u KERNEL_HEADERS RUSTC=/usr/bin/rustc /usr/bin/cargo)
else
    run=(env RUSTC="$(command -v rustc)" cargo)
fi
cd "$ROOT"
RUSTC_BOOTSTRAP=1 RUSTFLAGS="$flags" MACOSX_DEPLOYMENT_TARGET="$(deployment_target "$arch")" \
    CARGO_TARGET_DIR="$ROOT/target/kernel" \
    "${run[@]}" build --release -p rustkext --features kernel \
    --target "targets/$arch-apple-macos-kernel.json" \
    -Zbuild-std=core,compiler_builtins $(json_target_spec_flag "${run[@]}") >&2
echo "$ROOT/target/kernel/$arch-apple-macos-kernel/release/librustkext.a"
