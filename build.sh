#!/usr/bin/env bash
# The build command (README), for the monitor (kext/) or any kext built with the framework
# (`./build.sh KEXT_DIR`, the directory of its rustkext.toml: a scaffolded kext's build.sh calls it).
# Every name comes from the kext's rustkext.toml, through `rustkext identity` (framework/build).
#   macOS: the Rust kernel library for x86_64 + arm64e, the C++ shim, the kmod glue, a `-kext`
#          link per architecture, a universal build/<name>.kext, dSYM, ad-hoc signature,
#          validation.
#   Linux: the Rust kernel library for x86_64 + arm64e, checked with tools/kext-check; with
#          KERNEL_HEADERS also the x86_64 kext: the shim and kmod glue (clang-19), the link
#          (tools/kextld, the MH_KEXT_BUNDLE ld64 -kext writes), build/<name>.kext with its dSYM,
#          ad-hoc signed (tools/kext-sign); with XNU_EXPORTS (one or more xnu config/
#          directories, ':'-separated) every import against the KPIs.
#   Both:  with XNU_SOURCE (an xnu git directory or source tree) the kxld check: the x86_64 kext
#          linked by macOS 10.15's own kext linker, built from that tree (tools/kxld-check).
# Environment: KERNEL_HEADERS, XNU_EXPORTS, XNU_SOURCE (+ XNU_TAG; KXLD_KERNEL and KXLD_PLUGINS: a
#   real 10.15 kernel instead of the model), RUSTKEXT_BUILD_DIR (default: build/ for the monitor,
#   KEXT_DIR/build for another kext; the macOS-path test writes elsewhere).
set -euo pipefail
CALLER_DIR=$PWD # KEXT_DIR and a bundle's path are the caller's, relative to where it ran us
cd "$(dirname "$0")"

usage() {
    cat <<'USAGE'
Usage: ./build.sh                 build (Linux: the kernel objects and checks, and with
                                  KERNEL_HEADERS the x86_64 kext; macOS: the universal kext)
       ./build.sh KEXT_DIR        the same for another kext: the directory of its rustkext.toml
                                  (a scaffolded kext's own build.sh calls this)
       sudo ./build.sh install    copy build/RustKext.kext where the kernel loads it from (macOS);
                                  install|load|unload|uninstall|status take another bundle's path
                                  as a second argument
       sudo ./build.sh load       load it (10.15: kextutil; 11+: kmutil load)
       sudo ./build.sh unload     unload it (refused while clients are open)
       sudo ./build.sh uninstall  unload and remove it
       ./build.sh status          installed? loaded? SIP?
       ./build.sh --help          this text

Environment (build):
  KERNEL_HEADERS  Kernel.framework/Headers: the shim, the Linux-built kext (kextld), its dSYM
  XNU_EXPORTS     xnu config/ directories (':'-separated): every import against the KPIs
  XNU_SOURCE      an xnu git directory or tree: the kxld check (XNU_TAG, KXLD_KERNEL, KXLD_PLUGINS)
  RUSTKEXT_BUILD_DIR  the output directory (default build/, KEXT_DIR/build for another kext)
The identity (bundle id, names, classes, versions, personality keys) is the kext's rustkext.toml.
The VM guide (docs/vm-guide.md) walks through install, load, the harness, unload and recovery.
USAGE
}

case ${1:-} in
    "") KEXT_DIR=$PWD/kext ;;
    -h | --help | help) usage; exit 0 ;;
    install | load | unload | uninstall | status)
        [ $# -lt 2 ] || set -- "$1" "$(cd "$CALLER_DIR" && cd "$(dirname "$2")" && pwd)/$(basename "$2")"
        exec scripts/manage.sh "$@"
        ;;
    *)
        if [ $# = 1 ] && (cd "$CALLER_DIR" && [ -f "$1/rustkext.toml" ]); then
            KEXT_DIR=$(cd "$CALLER_DIR" && cd "$1" && pwd)
        else
            printf 'build.sh: unknown argument %s (not a command, nor a directory with a rustkext.toml)\n\n' "$*" >&2
            usage >&2
            exit 2
        fi
        ;;
esac

ROOT=$PWD
# The kext's identity: NAME, BUNDLE_ID, VERSION, SERVICE_CLASS, USER_CLIENT_CLASS, SYMBOL_PREFIX,
# GLUE_DIR, GLUE_CRATE, GLUE_LIB, RUST_TEXT_BUDGET_*, ... (framework/build, `rustkext identity`).
eval "$(scripts/rustkext.sh identity "$KEXT_DIR")"
mapfile -t SHIM_DEFINES < <(scripts/rustkext.sh shim-defines "$KEXT_DIR")
if [ "$KEXT_DIR" = "$ROOT/kext" ]; then
    BUILD=${RUSTKEXT_BUILD_DIR:-$ROOT/build}
else
    BUILD=${RUSTKEXT_BUILD_DIR:-$KEXT_DIR/build}
fi
KERNEL_TARGET_DIR=$ROOT/target/kernel
ARCHS=(x86_64 arm64e)

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
# die WHAT [FIX]: what is wrong, and the command that fixes it.
die() {
    printf 'build.sh: error: %s\n' "$1" >&2
    [ $# -lt 2 ] || printf 'build.sh: fix: %s\n' "$2" >&2
    exit 1
}

rust_lib() { echo "$KERNEL_TARGET_DIR/$1-apple-macos-kernel/release/$GLUE_LIB"; }
# The library the checks and the link take: for arm64e, the copy marked with the kernel
# pointer-auth ABI (mark_arm64e).
link_lib() { case $1 in arm64e) echo "$BUILD/arm64e/$GLUE_LIB" ;; *) rust_lib "$1" ;; esac; }

# The kernel compile flags (KERNEL_CFLAGS, KERNEL_CXXFLAGS, KERNEL_RUSTFLAGS) and
# deployment_target: one definition for build.sh, scripts/kernel-lib.sh and scripts/shim-linux.sh.
# shellcheck source=scripts/kernel-flags.sh
. "$ROOT/scripts/kernel-flags.sh"

# ---- Rust kernel library ----

build_rust() {
    local arch=$1 start=$SECONDS
    step "Rust kernel library for $arch (macOS $(deployment_target "$arch")+, line tables): $GLUE_CRATE"
    scripts/kernel-lib.sh "$arch" "$KEXT_DIR" >/dev/null || die "the Rust kernel build for $arch failed (see above)"
    note "$(rust_lib "$arch") ($((SECONDS - start)) s)"
}

# ---- Info.plist and kmod glue ----

# Generated from the kext's rustkext.toml (validated there: reverse-DNS bundle id of at most 63
# bytes, never com.apple., a C identifier for the class prefix, versions) by rustkext-build: the
# plist with the `plist` crate, the kmod glue as Xcode's <name>_info.c.
fill_plist() {
    step "Info.plist and kmod glue ($BUNDLE_ID $VERSION, from $KEXT_DIR/rustkext.toml)"
    mkdir -p "$BUILD"
    scripts/rustkext.sh plist "$KEXT_DIR" -o "$BUILD/Info.plist" || die "the Info.plist could not be generated (see above)"
    scripts/rustkext.sh kmod-glue "$KEXT_DIR" -o "$BUILD/${NAME}_info.c" || die "the kmod glue could not be generated (see above)"
    note "$BUILD/Info.plist, $BUILD/${NAME}_info.c; classes $SERVICE_CLASS, $USER_CLIENT_CLASS"
}

# ---- checks (tools/kext-check) ----

KEXT_CHECK=$ROOT/target/debug/kext-check
build_checker() {
    step "tools/kext-check"
    CARGO_TARGET_DIR="$ROOT/target" cargo build -q -p kext-check ||
        die "building tools/kext-check failed (see above)"
}

# rustc marks arm64e objects with the user pointer-auth ABI (cpusubtype 0x80000002), Apple clang
# its -mkernel objects with the kernel ABI (0xC0000002), and ld64 warns on the mix (docs/audit.md
# #5). The Rust objects sign only their return addresses (pac-ret), which means the same in both,
# so a copy is marked with the kernel ABI; kext-check refuses to mark an object with signed
# data pointers.
mark_arm64e() {
    step "arm64e Rust objects: marked with the kernel pointer-auth ABI (0xC0000002, as Apple clang's -mkernel objects)"
    mkdir -p "$BUILD/arm64e"
    "$KEXT_CHECK" mark-kernel-abi "$(rust_lib arm64e)" "$(link_lib arm64e)" || die "the arm64e Rust objects cannot be marked (see above)"
}

check_rust_objects() {
    local arch
    step "kext-check plist"
    "$KEXT_CHECK" plist "$BUILD/Info.plist" --classes "$SERVICE_CLASS,$USER_CLIENT_CLASS" || die "Info.plist breaks a rule (see above)"
    for arch in "${ARCHS[@]}"; do
        step "kext-check objects ($arch): Mach-O, cpu type, no FP/SIMD, no panics/fmt, imports"
        "$KEXT_CHECK" objects --arch "$arch" "$(link_lib "$arch")" ||
            die "the $arch kernel objects fail the checks (see above)"
    done
    step "sizes of the Rust kernel objects"
    for arch in "${ARCHS[@]}"; do
        "$KEXT_CHECK" sizes --arch "$arch" "$(link_lib "$arch")"
    done
    for arch in "${ARCHS[@]}"; do
        measure_rust_text "$arch"
    done
}

# The linked size of the Rust code (the budget in rustkext.toml's [size-budget]; the monitor's:
# at most 10 % over f907031's, x86_64 and arm64e): __TEXT,__text bytes a dead-stripping link
# keeps from the Rust archive, summed from the linker's map by kext-check. With shim objects
# (measure_rust_text x86_64 OBJ...) the link is the kext's: rooted at kmod_info, the vtables and
# the metaclasses; without (arm64e, no headers) the Rust archive alone rooted at its C ABI
# exports, which keeps the same code.
measure_rust_text() {
    local arch=$1 lib map what budget=() roots
    shift
    lib=$(link_lib "$arch")
    command -v ld64.lld-19 >/dev/null || { note "linked Rust __text ($arch): skipped, no ld64.lld-19"; return 0; }
    mkdir -p "$BUILD/$arch"
    map=$BUILD/$arch/rust-text.map
    if [ $# -gt 0 ]; then
        roots=(-exported_symbol _kmod_info -exported_symbol '__ZTV*' -exported_symbol '*MetaClass*' "$@" "$lib")
        what="$arch, linked with the shim and kmod glue"
    else
        roots=(-exported_symbol "_${SYMBOL_PREFIX}rk_*" -force_load "$lib")
        what="$arch, rooted at the C ABI exports"
    fi
    case $arch in
        x86_64) [ -z "$RUST_TEXT_BUDGET_X86_64" ] || budget=(--budget "$RUST_TEXT_BUDGET_X86_64") ;;
        arm64e) [ -z "$RUST_TEXT_BUDGET_ARM64E" ] || budget=(--budget "$RUST_TEXT_BUDGET_ARM64E") ;;
    esac
    step "linked Rust __text ($what)"
    ld64.lld-19 -arch "$arch" -platform_version macos "$(deployment_target "$arch")" 11.0 -bundle \
        -flat_namespace -undefined suppress -dead_strip "${roots[@]}" -map "$map" -o "$map.bin" ||
        die "the $arch measurement link failed (see above)"
    "$KEXT_CHECK" linked-text --map "$map" --archive "$(basename "$lib")" --label "$arch" "${budget[@]}" ||
        die "the $arch Rust code is over its budget (see above)"
}

# check_imports ARCH MODE FILE...: against every directory in XNU_EXPORTS. MODE: objects (the
# Rust objects alone), linked (a kext from ld64 -kext: Apple's libkmod.a supplies _start/_stop),
# kext (a kext whose kmod glue defines _start/_stop: nothing is exempt).
# code_from FILE...: "--code-from FILE" for each (the objects a kext was linked from: the
# FP/SIMD scan of the linked kext skips their jump tables). Paths without white space (build/).
code_from() {
    local f
    for f in "$@"; do printf -- '--code-from %s ' "$f"; done
}
check_imports() {
    local arch=$1 mode=$2 dir dirs
    shift 2
    local args=(--plist "$BUILD/Info.plist" --arch "$arch")
    [ "$mode" = objects ] || args+=(--linked)
    [ "$mode" = kext ] && args+=(--no-libkmod)
    IFS=: read -r -a dirs <<<"$XNU_EXPORTS"
    for dir in "${dirs[@]}"; do
        [ -d "$dir/System.kext/PlugIns" ] ||
            die "XNU_EXPORTS entry '$dir' is not xnu's config/ directory (no System.kext/PlugIns)" \
                "mkdir -p /tmp/xnu/xnu-7195.101.1 && git -C <xnu git dir> archive xnu-7195.101.1 config | tar -x -C /tmp/xnu/xnu-7195.101.1 && XNU_EXPORTS=/tmp/xnu/xnu-7195.101.1/config ./build.sh"
        if [ "$arch" = arm64e ] && [ ! -f "$dir/MASTER.arm64.MacOSX" ]; then
            step "kext-check imports ($arch, $(basename "$(dirname "$dir")")): skipped, no arm64 macOS in this xnu"
            continue
        fi
        step "kext-check imports ($arch, $(basename "$(dirname "$dir")")): $*"
        "$KEXT_CHECK" imports "${args[@]}" --exports "$dir" "$@" ||
            die "$arch imports not exported by the declared KPIs of $dir (see above)"
    done
}

# ---- the kxld check (tools/kxld-check) ----

# kxld_check HEADERS: links the x86_64 kext with kxld built from XNU_SOURCE, against the kernel
# model made from xnu's KPI lists and HEADERS' vtables, or against KXLD_KERNEL + KXLD_PLUGINS.
kxld_check() {
    local headers=${1:-} args=()
    if [ -f "$BUILD/$NAME.kext/Contents/MacOS/$NAME" ] && [ "$(uname -s)" = Linux ]; then
        args=(--kext "$BUILD/$NAME.kext")
    elif [ -f "$BUILD/x86_64/$NAME" ]; then
        args=(--kext "$BUILD/x86_64/$NAME" --plist "$BUILD/Info.plist") # the slice ld64 linked
    else
        step "kxld check skipped: no x86_64 kext binary in $BUILD"
        note "it needs $BUILD/$NAME.kext (Linux: KERNEL_HEADERS and tools/kextld) or $BUILD/x86_64/$NAME (macOS)"
        return 0
    fi
    if [ -n "${KXLD_KERNEL:-}${KXLD_PLUGINS:-}" ]; then
        args+=(--kernel "${KXLD_KERNEL:-}" --plugins "${KXLD_PLUGINS:-}")
    fi
    KERNEL_HEADERS=$headers tools/kxld-check/kxld-check.sh "${args[@]}" ||
        die "the kext fails the kxld check (see above)" \
            "the negative tests and details: XNU_SOURCE=$XNU_SOURCE KERNEL_HEADERS=$headers tools/kxld-check/kxld-check.sh --negative"
}

# ---- Linux ----

# check_kext_binary FILE: what llvm-objdump-19 sees: an x86_64 KEXTBUNDLE with exactly the load
# commands ld64 -kext writes (before signing adds LC_CODE_SIGNATURE).
check_kext_binary() {
    local headers cmds segs expected="LC_SEGMENT_64 LC_SEGMENT_64 LC_SEGMENT_64 LC_SYMTAB LC_DYSYMTAB LC_UUID LC_SOURCE_VERSION"
    headers=$(llvm-objdump-19 --macho --private-headers "$1") || die "llvm-objdump-19 cannot read $1"
    grep -Eq '^ *MH_MAGIC_64 +X86_64 +ALL +0x00 +KEXTBUNDLE +[0-9]+ +[0-9]+ +NOUNDEFS DYLDLINK TWOLEVEL *$' <<<"$headers" ||
        die "$1 is not an x86_64 KEXTBUNDLE with flags NOUNDEFS DYLDLINK TWOLEVEL (llvm-objdump-19 --macho --private-headers)"
    cmds=$(awk '$1 == "cmd" { print $2 }' <<<"$headers" | paste -sd' ')
    [ "$cmds" = "$expected" ] || die "$1 has load commands '$cmds', expected '$expected'"
    segs=$(awk '$1 == "segname" && !seen[$2]++ { print $2 }' <<<"$headers" | paste -sd' ')
    [ "$segs" = "__TEXT __DATA __LINKEDIT" ] || die "$1 has segments '$segs', expected __TEXT __DATA __LINKEDIT"
    note "llvm-objdump-19: KEXTBUNDLE x86_64, $cmds"
}

KEXTLD=$ROOT/target/debug/kextld
KEXT_SIGN=$ROOT/target/kext-sign/debug/kext-sign

linux_kext() {
    local arch=x86_64 out=$BUILD/x86_64 kext=$BUILD/$NAME.kext list objs bin start
    [ -f "$KERNEL_HEADERS/IOKit/IOService.h" ] ||
        die "KERNEL_HEADERS=$KERNEL_HEADERS holds no IOKit/IOService.h (Kernel.framework Headers expected)" \
            "mkdir -p /opt/MacKernelSDK && git -C <MacKernelSDK git dir> archive HEAD Headers | tar -x -C /opt/MacKernelSDK && KERNEL_HEADERS=/opt/MacKernelSDK/Headers ./build.sh"
    step "shim and kmod glue for x86_64 with clang++-19 (kernel flags, -g, -Werror; the glue defines _start/_stop)"
    list=$(scripts/shim-linux.sh "$KERNEL_HEADERS" "$out" "$BUILD/${NAME}_info.c" "${SHIM_DEFINES[@]}") || die "compiling the shim failed (see above)"
    mapfile -t objs <<<"$list"
    note "${#objs[@]} objects: $(for o in "${objs[@]}"; do basename "$o"; done | paste -sd' ')"

    step "tools/kextld"
    CARGO_TARGET_DIR="$ROOT/target" cargo build -q -p kextld || die "building tools/kextld failed (see above)"
    step "link x86_64 with tools/kextld (MH_KEXT_BUNDLE, as ld64 -kext): shim + kmod glue + Rust"
    "$KEXTLD" -o "$out/$NAME" -u _kmod_info "${objs[@]}" "$(rust_lib x86_64)" || die "the kext link failed (see above)"
    check_kext_binary "$out/$NAME"
    measure_rust_text x86_64 "${objs[@]}"
    note "$(llvm-size-19 "$out/$NAME" | tail -1 | awk '{print "__TEXT " $1 ", __DATA " $2 " bytes"}')"
    if [ -n "${XNU_EXPORTS:-}" ]; then
        check_imports "$arch" kext "$out/$NAME" $(code_from "${objs[@]}" "$(rust_lib x86_64)")
    fi

    step "bundle $kext (x86_64)"
    rm -rf "$kext" "$kext.dSYM"
    mkdir -p "$kext/Contents/MacOS"
    cp "$BUILD/Info.plist" "$kext/Contents/Info.plist"
    cp "$out/$NAME" "$kext/Contents/MacOS/$NAME"
    bin=$kext/Contents/MacOS/$NAME

    step "dSYM: dsymutil-19 (from the debug map: shim objects and the Rust archive's members)"
    dsymutil-19 -o "$kext.dSYM" "$bin" || die "dsymutil-19 failed (see above)"
    [ "$(llvm-dwarfdump-19 --uuid "$bin" | awk '{print $2}')" = "$(llvm-dwarfdump-19 --uuid "$kext.dSYM" | awk '{print $2}')" ] ||
        die "$kext.dSYM does not carry the kext's UUID"
    note "$kext.dSYM ($(llvm-dwarfdump-19 --uuid "$bin" | awk '{print $2}'))"

    step "ad-hoc signature: tools/kext-sign (apple-codesign)"
    start=$SECONDS
    CARGO_TARGET_DIR="$ROOT/target/kext-sign" cargo build -q --locked --manifest-path tools/kext-sign/Cargo.toml ||
        die "building tools/kext-sign failed (see above)"
    [ $((SECONDS - start)) -lt 5 ] || note "tools/kext-sign built in $((SECONDS - start)) s"
    "$KEXT_SIGN" "$kext" || die "signing $kext failed (see above)"
    [ -f "$kext/Contents/_CodeSignature/CodeResources" ] || die "$kext has no Contents/_CodeSignature/CodeResources"
    llvm-objdump-19 --macho --private-headers "$bin" | grep -q 'cmd LC_CODE_SIGNATURE' ||
        die "$bin has no LC_CODE_SIGNATURE after signing"
    note "$kext: Contents/Info.plist, Contents/MacOS/$NAME, Contents/_CodeSignature/CodeResources"
}

build_linux() {
    eval "$(scripts/setup.sh)"
    local arch
    [ -d /usr/lib/rustlib/src/rust/library ] ||
        die "no Rust library source for build-std at /usr/lib/rustlib/src/rust" "apt-get install -y rust-web-src"
    fill_plist
    for arch in "${ARCHS[@]}"; do
        build_rust "$arch"
    done
    build_checker
    mark_arm64e
    check_rust_objects
    if [ -n "${KERNEL_HEADERS:-}" ]; then
        linux_kext
    else
        step "kext skipped: KERNEL_HEADERS is not set (the shim needs Kernel.framework headers)"
        note "for $BUILD/$NAME.kext (x86_64): KERNEL_HEADERS=/opt/MacKernelSDK/Headers ./build.sh"
    fi
    if [ -n "${XNU_EXPORTS:-}" ]; then
        # The linked kext was checked above; the arm64e shim needs Apple clang, so for arm64e
        # (and for x86_64 without KERNEL_HEADERS) the Rust objects' imports are checked.
        [ -n "${KERNEL_HEADERS:-}" ] || check_imports x86_64 objects "$(rust_lib x86_64)"
        check_imports arm64e objects "$(link_lib arm64e)"
    else
        step "import check skipped: XNU_EXPORTS is not set"
        note "to check every import against xnu's KPI export lists: XNU_EXPORTS=/tmp/xnu/xnu-7195.101.1/config ./build.sh (docs/building.md, developer checks)"
    fi
    if [ -n "${XNU_SOURCE:-}" ] && [ -z "${KERNEL_HEADERS:-}${KXLD_KERNEL:-}" ]; then
        step "kxld check skipped: XNU_SOURCE needs KERNEL_HEADERS too (the kext is built with them, and the kernel model's vtables come from them)"
    elif [ -n "${XNU_SOURCE:-}" ]; then
        kxld_check "${KERNEL_HEADERS:-}"
    else
        step "kxld check skipped: XNU_SOURCE is not set"
        note "to link the kext with macOS 10.15's kxld: XNU_SOURCE=<xnu git dir> KERNEL_HEADERS=/opt/MacKernelSDK/Headers ./build.sh (docs/building.md, developer checks)"
    fi
    if [ -n "${KERNEL_HEADERS:-}" ]; then
        step "done: $BUILD/$NAME.kext (x86_64, ad-hoc signed) and $BUILD/$NAME.kext.dSYM"
    else
        step "done: Linux build and checks passed (the kext needs KERNEL_HEADERS here, or macOS)"
    fi
}

# ---- macOS ----

# kmutil (11+) and kextutil (10.15) authenticate a kext before anything else: owned by
# root:wheel, not writable by group or others, validly signed. A build tree owned by the user
# fails that on every Mac (docs/audit.md #6), so the check runs on a root-owned copy when build.sh
# runs as root, and otherwise says what to run.
validate_macos() {
    local tool copy
    if command -v kmutil >/dev/null; then
        tool=(kmutil print-diagnostics --bundle-path)
    elif command -v kextutil >/dev/null; then
        tool=(kextutil -n -t)
    else
        step "validate: skipped (neither kmutil nor kextutil found)"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        step "validate: skipped (${tool[0]} authenticates ownership, which needs root)"
        note "to validate a root-owned copy: sudo rm -rf /tmp/$NAME-validate && sudo mkdir /tmp/$NAME-validate && sudo cp -R '$BUILD/$NAME.kext' /tmp/$NAME-validate/ && sudo chown -R root:wheel /tmp/$NAME-validate && sudo chmod -R go-w /tmp/$NAME-validate && sudo ${tool[*]} /tmp/$NAME-validate/$NAME.kext"
        return 0
    fi
    step "validate a root-owned copy with ${tool[0]}"
    copy=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-validate.XXXXXX")
    cp -R "$BUILD/$NAME.kext" "$copy/"
    chown -R root:wheel "$copy" && chmod -R go-w "$copy" || die "cannot make $copy root-owned"
    "${tool[@]}" "$copy/$NAME.kext" || die "${tool[0]} rejects the kext (see above; the copy is in $copy)"
    rm -rf "$copy"
}

build_macos() {
    local arch sdk headers out src objs slices=()
    command -v xcrun >/dev/null || die "Xcode command line tools are missing" "xcode-select --install"
    command -v cargo >/dev/null || die "cargo is missing" "curl https://sh.rustup.rs -sSf | sh"
    [ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library" ] ||
        die "the Rust toolchain has no library source (build-std needs it)" "rustup component add rust-src"
    sdk=$(xcrun --sdk macosx --show-sdk-path) || die "no macOS SDK" "xcode-select --install"
    headers=${KERNEL_HEADERS:-$sdk/System/Library/Frameworks/Kernel.framework/Headers}
    [ -f "$headers/IOKit/IOService.h" ] ||
        die "no Kernel.framework headers at $headers" "install Xcode, or set KERNEL_HEADERS to Kernel.framework/Headers"

    fill_plist
    for arch in "${ARCHS[@]}"; do
        build_rust "$arch"
    done
    build_checker
    mark_arm64e
    check_rust_objects

    for arch in "${ARCHS[@]}"; do
        out=$BUILD/$arch
        objs=()
        mkdir -p "$out"
        step "shim for $arch (Apple clang, kernel flags)"
        for src in shim-cpp/*.cpp; do
            xcrun clang++ -arch "$arch" -mmacosx-version-min="$(deployment_target "$arch")" -isysroot "$sdk" \
                "${KERNEL_CXXFLAGS[@]}" "${KERNEL_CFLAGS[@]}" "${SHIM_DEFINES[@]}" -isystem "$headers" \
                -c "$src" -o "$out/$(basename "$src" .cpp).o" || die "compiling $src for $arch failed"
            objs+=("$out/$(basename "$src" .cpp).o")
        done
        xcrun clang -arch "$arch" -mmacosx-version-min="$(deployment_target "$arch")" -isysroot "$sdk" \
            "${KERNEL_CFLAGS[@]}" -isystem "$headers" -c "$BUILD/${NAME}_info.c" -o "$out/${NAME}_info.o" ||
            die "compiling the kmod glue for $arch failed"
        step "link $arch with -kext"
        xcrun clang++ -arch "$arch" -mmacosx-version-min="$(deployment_target "$arch")" -isysroot "$sdk" \
            -Xlinker -kext -nostdlib "${objs[@]}" "$out/${NAME}_info.o" "$(link_lib "$arch")" \
            -lkmodc++ -lkmod -lcc_kext -o "$out/$NAME" || die "the $arch kext link failed (see above)"
        slices+=("$out/$NAME")
        if [ -n "${XNU_EXPORTS:-}" ]; then
            check_imports "$arch" linked "$out/$NAME" $(code_from "${objs[@]}" "$out/${NAME}_info.o" "$(link_lib "$arch")")
        fi
    done

    step "bundle $BUILD/$NAME.kext (universal)"
    rm -rf "$BUILD/$NAME.kext"
    mkdir -p "$BUILD/$NAME.kext/Contents/MacOS"
    cp "$BUILD/Info.plist" "$BUILD/$NAME.kext/Contents/Info.plist"
    xcrun lipo -create "${slices[@]}" -output "$BUILD/$NAME.kext/Contents/MacOS/$NAME" || die "lipo failed"
    xcrun size -m "$BUILD/$NAME.kext/Contents/MacOS/$NAME" | grep -E 'Segment __(TEXT|DATA)' || true

    step "dSYM"
    rm -rf "$BUILD/$NAME.kext.dSYM"
    xcrun dsymutil -o "$BUILD/$NAME.kext.dSYM" "$BUILD/$NAME.kext/Contents/MacOS/$NAME" || die "dsymutil failed"

    step "ad-hoc signature"
    codesign --force --sign - "$BUILD/$NAME.kext" || die "codesign failed"

    validate_macos
    if [ -n "${XNU_SOURCE:-}" ]; then
        kxld_check "$headers"
    fi
    step "done: $BUILD/$NAME.kext"
}

case "$(uname -s)" in
    Linux) build_linux ;;
    Darwin) build_macos ;;
    *) die "unsupported system $(uname -s): build on macOS, or check on Linux" ;;
esac
