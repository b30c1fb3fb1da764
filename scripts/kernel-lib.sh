#!/usr/bin/env bash
# Builds a kext's Rust kernel library (its glue crate as a staticlib, feature `kernel`) for one
# kernel target and prints its path. Used by build.sh and by tools/kextld's test on the project's
# own inputs.
# Usage: scripts/kernel-lib.sh x86_64|arm64e [KEXT_DIR]   (default: kext/, the monitor)
# Linux: Debian's /usr/bin/cargo + rustc 1.96 with rust-web-src (docs/toolchain.md), KERNEL_HEADERS
# ignored (the library is built from ffi's committed KPI declarations, the same on every machine).
# macOS: the rustup toolchain with rust-src. Every kext shares target/kernel (core is built once).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/kernel-flags.sh
. "$ROOT/scripts/kernel-flags.sh"
arch=$1
kext=$(cd "${2:-$ROOT/kext}" && pwd)
case $arch in x86_64 | arm64e) ;; *) echo "kernel-lib.sh: unknown architecture $arch" >&2; exit 2 ;; esac
eval "$("$ROOT/scripts/rustkext.sh" identity "$kext")"
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
    "${run[@]}" build --release --manifest-path "$GLUE_DIR/Cargo.toml" -p "$GLUE_CRATE" --features kernel \
    --target "targets/$arch-apple-macos-kernel.json" \
    -Zbuild-std=core,compiler_builtins $(json_target_spec_flag "${run[@]}") >&2
echo "$ROOT/target/kernel/$arch-apple-macos-kernel/release/$GLUE_LIB"
