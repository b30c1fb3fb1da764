#!/usr/bin/env bash
# Runs build.sh's macOS path on Linux with stand-ins for what only a Mac has (uname -s = Darwin,
# xcrun clang/clang++/lipo/size/dsymutil, codesign, kmutil, rustup's cargo/rustc), which record
# every command, check its shape and that its inputs exist. The Rust libraries are built for
# real (Debian's cargo 1.96), kext-check runs for real. Then the recorded commands are checked:
# a typo in the macOS path (a wrong variable, a missing flag, a file that is not there) fails.
# Three runs: as a user (validation skipped, with the commands to run), as root (a root-owned
# copy validated with kmutil), and with a cargo that predates -Zjson-target-spec.
# Usage: tests/macos-path/run.sh   (test.sh runs it on Linux)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/tests/macos-path/bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rustkext-macos-path.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() { printf 'macos-path test: FAIL: %s\n' "$*" >&2; exit 1; }

# A fake SDK with Kernel.framework headers (only the file build.sh looks for), and a sysroot
# with rust-src.
mkdir -p "$WORK/sdk/System/Library/Frameworks/Kernel.framework/Headers/IOKit" "$WORK/sysroot/lib/rustlib/src/rust/library"
: >"$WORK/sdk/System/Library/Frameworks/Kernel.framework/Headers/IOKit/IOService.h"

export STANDIN_SDK=$WORK/sdk STANDIN_SYSROOT=$WORK/sysroot
STANDIN_REAL_CARGO=$(command -v cargo)
STANDIN_REAL_RUSTC=$(command -v rustc)
export STANDIN_REAL_CARGO STANDIN_REAL_RUSTC

# run NAME [ENV...]: build.sh with the stand-ins first on PATH; its own build directory and log.
run() {
    local name=$1
    shift
    export STANDIN_LOG=$WORK/$name.log RUSTKEXT_BUILD_DIR=$WORK/$name-build
    : >"$STANDIN_LOG"
    if ! env -u KERNEL_HEADERS -u XNU_EXPORTS "$@" PATH="$BIN:$PATH" "$ROOT/build.sh" >"$WORK/$name.out" 2>&1; then
        cat "$WORK/$name.out" >&2
        fail "$name: build.sh's macOS path failed (output above)"
    fi
}

# expect LOG REGEX COUNT WHAT: REGEX matches exactly COUNT recorded commands.
expect() {
    local n
    n=$(grep -cE "$2" "$1" || true)
    [ "$n" = "$3" ] || { cat "$1" >&2; fail "$4: $n commands match /$2/, expected $3"; }
}

run user STANDIN_UID=501
L=$WORK/user.log
B=$WORK/user-build
G="$ROOT/kext/glue/Cargo.toml"
expect "$L" "^cargo build --release --manifest-path $G -p rustkext-monitor-kext --features kernel --target targets/x86_64-apple-macos-kernel\.json -Zbuild-std=core,compiler_builtins -Zjson-target-spec$" 1 "x86_64 Rust build (the monitor's glue crate)"
expect "$L" "^cargo build --release --manifest-path $G -p rustkext-monitor-kext --features kernel --target targets/arm64e-apple-macos-kernel\.json -Zbuild-std=core,compiler_builtins -Zjson-target-spec$" 1 "arm64e Rust build (the monitor's glue crate)"
expect "$L" '^xcrun --sdk macosx --show-sdk-path$' 1 "SDK lookup"
for arch in x86_64 arm64e; do
    expect "$L" "^xcrun clang\+\+ -arch $arch .* -std=gnu\+\+17 -fapple-kext -fno-rtti -fno-exceptions -mkernel .* -g -Wall -Wextra -Werror .* -isystem $STANDIN_SDK/System/Library/Frameworks/Kernel.framework/Headers -c shim-cpp/[A-Za-z]+\.cpp -o $B/$arch/[A-Za-z]+\.o$" 3 "$arch shim compile"
    # The one shim, compiled with the monitor's names (rustkext shim-defines).
    expect "$L" "^xcrun clang\+\+ -arch $arch .* -DRK_SERVICE_CLASS=org_rustkext_Service -DRK_USERCLIENT_CLASS=org_rustkext_UserClient -DRK_MODULE_START=org_rustkext_module_start -DRK_MODULE_STOP=org_rustkext_module_stop -DRK_LOG_PREFIX=\"RustKext: \" -DRK_SYMBOL_PREFIX=\"org_rustkext_\" .* -c shim-cpp/" 3 "$arch shim compiled with the kext's names"
    expect "$L" "^xcrun clang -arch $arch .* -isystem .* -c $B/RustKext_info\.c -o $B/$arch/RustKext_info\.o$" 1 "$arch kmod glue"
    expect "$L" "^xcrun clang\+\+ -arch $arch .* -Xlinker -kext -nostdlib( $B/$arch/[A-Za-z]+\.o){3} $B/$arch/RustKext_info\.o .*librustkext_monitor_kext\.a -lkmodc\+\+ -lkmod -lcc_kext -o $B/$arch/RustKext$" 1 "$arch -kext link"
done
# The arm64e link takes the copy marked with the kernel pointer-auth ABI.
expect "$L" "^xcrun clang\+\+ -arch arm64e .* $B/arm64e/librustkext_monitor_kext\.a -lkmodc" 1 "arm64e link of the marked library"
expect "$L" "^xcrun lipo -create $B/x86_64/RustKext $B/arm64e/RustKext -output $B/RustKext\.kext/Contents/MacOS/RustKext$" 1 "lipo"
expect "$L" "^xcrun dsymutil -o $B/RustKext\.kext\.dSYM $B/RustKext\.kext/Contents/MacOS/RustKext$" 1 "dSYM"
expect "$L" "^codesign --force --sign - $B/RustKext\.kext$" 1 "signature"
expect "$L" '^kmutil ' 0 "validation as a user"
grep -q 'validate: skipped (kmutil authenticates ownership, which needs root)' "$WORK/user.out" || fail "the user run does not say why validation is skipped"
grep -q "sudo chown -R root:wheel /tmp/RustKext-validate" "$WORK/user.out" || fail "the user run does not print the validation commands"
[ -f "$B/RustKext.kext/Contents/Info.plist" ] || fail "no Contents/Info.plist in the bundle"
grep -q '<string>org.rustkext.RustKext</string>' "$B/RustKext.kext/Contents/Info.plist" || fail "Info.plist not filled in"
# Order: compile, link, bundle, dSYM, sign.
order=$(grep -nE '^(xcrun lipo|xcrun dsymutil|codesign)' "$L" | cut -d: -f2 | cut -d' ' -f1-2 | paste -sd,)
[ "$order" = "xcrun lipo,xcrun dsymutil,codesign --force" ] || fail "bundle/dSYM/signature order: $order"

run root STANDIN_UID=0
L=$WORK/root.log
expect "$L" "^chown -R root:wheel ${TMPDIR:-/tmp}/RustKext-validate\.[A-Za-z0-9]+$" 1 "root-owned copy"
expect "$L" "^kmutil print-diagnostics --bundle-path ${TMPDIR:-/tmp}/RustKext-validate\.[A-Za-z0-9]+/RustKext\.kext$" 1 "validation as root"

run old-cargo STANDIN_UID=501 STANDIN_CARGO_JSON=0
L=$WORK/old-cargo.log
expect "$L" '^cargo build .*-Zbuild-std=core,compiler_builtins$' 2 "kernel builds without -Zjson-target-spec for a cargo that does not list it"
expect "$L" 'json-target-spec' 0 "no -Zjson-target-spec passed to an older cargo"

echo "macos-path test: build.sh's macOS path ran with stand-ins (user, root, older cargo); every recorded command as expected"
