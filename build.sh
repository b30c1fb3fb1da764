#!/usr/bin/env bash
# The build command (README).
#   macOS: the Rust kernel library for x86_64 + arm64e, the C++ shim, the kmod glue, a `-kext`
#          link per architecture, a universal build/RustKext.kext, ad-hoc signature, validation.
#   Linux: the Rust kernel library for x86_64 + arm64e, checked with tools/kext-check; with
#          KERNEL_HEADERS also the shim (x86_64) and an ld64.lld link check; with XNU_EXPORTS
#          (one or more xnu config/ directories, ':'-separated) every import against the KPIs.
#   Both:  with XNU_SOURCE (an xnu git directory or source tree) the kxld check: the x86_64 kext
#          linked by macOS 10.15's own kext linker, built from that tree (tools/kxld-check).
# Environment: BUNDLE_ID (default org.rustkext.RustKext), KERNEL_HEADERS, XNU_EXPORTS,
#   XNU_SOURCE (+ XNU_TAG; KXLD_KERNEL and KXLD_PLUGINS: a real 10.15 kernel instead of the model).
set -euo pipefail
cd "$(dirname "$0")"

ROOT=$PWD
BUILD=$ROOT/build
NAME=RustKext
BUNDLE_ID=${BUNDLE_ID:-org.rustkext.RustKext}
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
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

deployment_target() { case $1 in x86_64) echo 10.15 ;; arm64e) echo 11.0 ;; esac; }
rust_lib() { echo "$KERNEL_TARGET_DIR/$1-apple-macos-kernel/release/librustkext.a"; }

# The kernel shim flags (TOOLCHAIN.md): same deployment target in every step, since it changes
# the headers' vtable layout.
KERNEL_CFLAGS=(-mkernel -nostdinc -DKERNEL -DKERNEL_PRIVATE -DDRIVER_PRIVATE -DAPPLE -DNeXT -O2
    -Wall -Wextra -Werror -I"$ROOT/shim-cpp")
KERNEL_CXXFLAGS=(-std=gnu++17 -fapple-kext -fno-rtti -fno-exceptions)

# ---- Rust kernel library ----

# build_rust ARCH CARGO RUSTC [ENV...]: extra ENV entries go to `env` (e.g. -u KERNEL_HEADERS).
# ${1+"$@"}: an empty "$@" that old bash versions (macOS ships 3.2) accept under set -u.
build_rust() {
    local arch=$1 cargo=$2 rustc=$3 flags="" start=$SECONDS
    shift 3
    [ "$arch" = arm64e ] && flags="-Zbranch-protection=pac-ret,b-key"
    step "Rust kernel library for $arch (macOS $(deployment_target "$arch")+)"
    env ${1+"$@"} RUSTC_BOOTSTRAP=1 RUSTC="$rustc" RUSTFLAGS="$flags" \
        MACOSX_DEPLOYMENT_TARGET="$(deployment_target "$arch")" CARGO_TARGET_DIR="$KERNEL_TARGET_DIR" \
        "$cargo" build --release -p rustkext --features kernel \
        --target "targets/$arch-apple-macos-kernel.json" \
        -Zbuild-std=core,compiler_builtins -Zjson-target-spec ||
        die "the Rust kernel build for $arch failed (see above)"
    note "$(rust_lib "$arch") ($((SECONDS - start)) s)"
}

# ---- Info.plist and kmod glue ----

fill_plist() {
    [[ $BUNDLE_ID =~ ^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$ ]] ||
        die "BUNDLE_ID '$BUNDLE_ID' is not a reverse-DNS identifier" "BUNDLE_ID=com.example.RustKext ./build.sh"
    step "Info.plist ($BUNDLE_ID $VERSION)"
    mkdir -p "$BUILD"
    sed -e "s/\$(PRODUCT_BUNDLE_IDENTIFIER)/$BUNDLE_ID/g" -e "s/\$(EXECUTABLE_NAME)/$NAME/g" \
        -e "s/\$(BUNDLE_VERSION)/$VERSION/g" Info.plist >"$BUILD/Info.plist"
    scripts/gen-kmod-info.sh "$BUILD/Info.plist" "$BUILD/${NAME}_info.c"
    note "$BUILD/Info.plist, $BUILD/${NAME}_info.c"
}

# ---- checks (tools/kext-check) ----

KEXT_CHECK=$ROOT/target/debug/kext-check
build_checker() {
    step "tools/kext-check"
    CARGO_TARGET_DIR="$ROOT/target" cargo build -q -p kext-check ||
        die "building tools/kext-check failed (see above)"
}

check_rust_objects() {
    local arch
    step "kext-check plist"
    "$KEXT_CHECK" plist "$BUILD/Info.plist" --shim shim-cpp || die "Info.plist breaks a rule (see above)"
    for arch in "${ARCHS[@]}"; do
        step "kext-check objects ($arch): Mach-O, cpu type, no FP/SIMD, no panics/fmt, imports"
        "$KEXT_CHECK" objects --arch "$arch" "$(rust_lib "$arch")" ||
            die "the $arch kernel objects fail the checks (see above)"
    done
    step "sizes of the Rust kernel objects"
    for arch in "${ARCHS[@]}"; do
        "$KEXT_CHECK" sizes --arch "$arch" "$(rust_lib "$arch")"
    done
}

# check_imports ARCH LINKED(yes|no) FILE...: against every directory in XNU_EXPORTS.
check_imports() {
    local arch=$1 linked=$2 dir dirs
    shift 2
    local args=(--plist "$BUILD/Info.plist" --arch "$arch")
    [ "$linked" = yes ] && args+=(--linked)
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

linux_link_check() {
    local arch=x86_64 out=$BUILD/x86_64 src objs=()
    [ -f "$KERNEL_HEADERS/IOKit/IOService.h" ] ||
        die "KERNEL_HEADERS=$KERNEL_HEADERS holds no IOKit/IOService.h (Kernel.framework Headers expected)" \
            "mkdir -p /opt/MacKernelSDK && git -C <MacKernelSDK git dir> archive HEAD Headers | tar -x -C /opt/MacKernelSDK && KERNEL_HEADERS=/opt/MacKernelSDK/Headers ./build.sh"
    mkdir -p "$out"
    step "shim for x86_64 with clang++-19 (kernel flags, -Werror)"
    for src in shim-cpp/*.cpp; do
        clang++-19 -target x86_64-apple-macos10.15 "${KERNEL_CXXFLAGS[@]}" "${KERNEL_CFLAGS[@]}" \
            -I"$KERNEL_HEADERS" -mllvm -disable-atexit-based-global-dtor-lowering \
            -c "$src" -o "$out/$(basename "$src" .cpp).o" || die "compiling $src failed (see above)"
        objs+=("$out/$(basename "$src" .cpp).o")
    done
    clang-19 -target x86_64-apple-macos10.15 "${KERNEL_CFLAGS[@]}" -I"$KERNEL_HEADERS" \
        -c "$BUILD/${NAME}_info.c" -o "$out/${NAME}_info.o" || die "compiling the kmod glue failed"
    note "${#objs[@]} shim objects + ${NAME}_info.o"

    # ld64.lld cannot write MH_KEXT_BUNDLE; a bundle with the same inputs proves that shim, glue
    # and Rust resolve each other and leaves only what the kernel (and libkmod.a) must supply.
    step "link check: ld64.lld-19 -bundle (shim + kmod glue + Rust)"
    ld64.lld-19 -arch x86_64 -platform_version macos 10.15 11.0 -bundle -flat_namespace \
        -undefined suppress -dead_strip -o "$out/$NAME.linkcheck" \
        "${objs[@]}" "$out/${NAME}_info.o" "$(rust_lib x86_64)" || die "the link check failed (see above)"
    note "undefined symbols left for the kernel: $(llvm-nm-19 -u "$out/$NAME.linkcheck" | wc -l)"
    note "$(llvm-size-19 "$out/$NAME.linkcheck" | tail -1 | awk '{print "linked x86_64 bundle: text " $1 ", data " $2 " bytes"}')"
    if [ -n "${XNU_EXPORTS:-}" ]; then
        check_imports "$arch" yes "$out/$NAME.linkcheck"
    fi
}

build_linux() {
    eval "$(scripts/setup.sh)"
    local arch
    [ -d /usr/lib/rustlib/src/rust/library ] ||
        die "no Rust library source for build-std at /usr/lib/rustlib/src/rust" "apt-get install -y rust-web-src"
    fill_plist
    # KERNEL_HEADERS is for the shim here: the Rust library is built from ffi's committed KPI
    # declarations, the same on every machine (MacKernelSDK has no arm64 headers anyway).
    for arch in "${ARCHS[@]}"; do
        build_rust "$arch" /usr/bin/cargo /usr/bin/rustc -u KERNEL_HEADERS
    done
    build_checker
    check_rust_objects
    if [ -n "${KERNEL_HEADERS:-}" ]; then
        linux_link_check
    else
        step "shim and link check skipped: KERNEL_HEADERS is not set"
        note "for the x86_64 shim compile and ld64.lld link check: KERNEL_HEADERS=/opt/MacKernelSDK/Headers ./build.sh"
    fi
    if [ -n "${XNU_EXPORTS:-}" ]; then
        # The linked bundle was checked above; the arm64e shim needs Apple clang, so for arm64e
        # (and for x86_64 without KERNEL_HEADERS) the Rust objects' imports are checked.
        [ -n "${KERNEL_HEADERS:-}" ] || check_imports x86_64 no "$(rust_lib x86_64)"
        check_imports arm64e no "$(rust_lib arm64e)"
    else
        step "import check skipped: XNU_EXPORTS is not set"
        note "to check every import against xnu's KPI export lists: XNU_EXPORTS=/tmp/xnu/xnu-7195.101.1/config ./build.sh (see README, developer checks)"
    fi
    if [ -n "${XNU_SOURCE:-}" ] && [ -z "${KERNEL_HEADERS:-}${KXLD_KERNEL:-}" ]; then
        step "kxld check skipped: XNU_SOURCE needs KERNEL_HEADERS too (the kext is built with them, and the kernel model's vtables come from them)"
    elif [ -n "${XNU_SOURCE:-}" ]; then
        kxld_check "${KERNEL_HEADERS:-}"
    else
        step "kxld check skipped: XNU_SOURCE is not set"
        note "to link the kext with macOS 10.15's kxld: XNU_SOURCE=<xnu git dir> KERNEL_HEADERS=/opt/MacKernelSDK/Headers ./build.sh (see README, developer checks)"
    fi
    step "done: Linux build and checks passed (the kext itself is linked on macOS)"
}

# ---- macOS ----

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
        build_rust "$arch" cargo rustc
    done
    build_checker
    check_rust_objects

    for arch in "${ARCHS[@]}"; do
        out=$BUILD/$arch
        objs=()
        mkdir -p "$out"
        step "shim for $arch (Apple clang, kernel flags)"
        for src in shim-cpp/*.cpp; do
            xcrun clang++ -arch "$arch" -mmacosx-version-min="$(deployment_target "$arch")" -isysroot "$sdk" \
                "${KERNEL_CXXFLAGS[@]}" "${KERNEL_CFLAGS[@]}" -I"$headers" \
                -c "$src" -o "$out/$(basename "$src" .cpp).o" || die "compiling $src for $arch failed"
            objs+=("$out/$(basename "$src" .cpp).o")
        done
        xcrun clang -arch "$arch" -mmacosx-version-min="$(deployment_target "$arch")" -isysroot "$sdk" \
            "${KERNEL_CFLAGS[@]}" -I"$headers" -c "$BUILD/${NAME}_info.c" -o "$out/${NAME}_info.o" ||
            die "compiling the kmod glue for $arch failed"
        step "link $arch with -kext"
        xcrun clang++ -arch "$arch" -mmacosx-version-min="$(deployment_target "$arch")" -isysroot "$sdk" \
            -Xlinker -kext -nostdlib "${objs[@]}" "$out/${NAME}_info.o" "$(rust_lib "$arch")" \
            -lkmodc++ -lkmod -lcc_kext -o "$out/$NAME" || die "the $arch kext link failed (see above)"
        slices+=("$out/$NAME")
        if [ -n "${XNU_EXPORTS:-}" ]; then
            check_imports "$arch" yes "$out/$NAME"
        fi
    done

    step "bundle $BUILD/$NAME.kext (universal)"
    rm -rf "$BUILD/$NAME.kext"
    mkdir -p "$BUILD/$NAME.kext/Contents/MacOS"
    cp "$BUILD/Info.plist" "$BUILD/$NAME.kext/Contents/Info.plist"
    xcrun lipo -create "${slices[@]}" -output "$BUILD/$NAME.kext/Contents/MacOS/$NAME"
    xcrun size -m "$BUILD/$NAME.kext/Contents/MacOS/$NAME" | grep -E 'Segment __(TEXT|DATA)' || true

    step "ad-hoc signature"
    codesign --force --sign - "$BUILD/$NAME.kext" || die "codesign failed"

    step "validate"
    if command -v kmutil >/dev/null; then
        kmutil print-diagnostics --bundle-path "$BUILD/$NAME.kext" || die "kmutil rejects the kext (see above)"
    elif command -v kextutil >/dev/null; then
        kextutil -n -t "$BUILD/$NAME.kext" || die "kextutil rejects the kext (see above)"
    else
        note "neither kmutil nor kextutil found: not validated"
    fi
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
