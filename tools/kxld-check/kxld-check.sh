#!/usr/bin/env bash
# The kxld check (README "Developer checks"; tools/kxld-check/README.md): links the x86_64 kext
# with macOS 10.15's own kext linker, kxld, built from the developer's xnu tree, against a model
# of the 10.15 kernel (xnu's KPI export lists + the superclass vtables laid out from the
# Kernel.framework headers) or, on a Mac, against the real 10.15 kernel and KPI pseudo-kexts,
# and verifies every fixup of the linked image independently of kxld.
#
#   XNU_SOURCE=<xnu git dir or tree> KERNEL_HEADERS=<Kernel.framework/Headers> \
#       tools/kxld-check/kxld-check.sh [options]
#
#   --kext PATH        the kext: a bundle (default build/RustKext.kext) or an x86_64 binary
#                      (e.g. build/x86_64/RustKext of the macOS build) with --plist
#   --plist FILE       the Info.plist for a kext binary (default build/Info.plist)
#   --kernel FILE      a real 10.15 kernel (/System/Library/Kernels/kernel) ...
#   --plugins DIR      ... and its KPI pseudo-kexts (/System/Library/Extensions/System.kext/PlugIns)
#                      instead of the model (KERNEL_HEADERS is then not needed)
#   --negative         also run the negative tests (each must fail with kxld's own message)
#   --dry-run          print what would be linked against what, check the paths, do nothing
#
# Environment: XNU_SOURCE (required), XNU_TAG (for a git dir; default xnu-6153.141.1),
# KERNEL_HEADERS (required for the model), KXLD_CHECK_DIR (where everything is written;
# default build/kxld-check).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tools/kxld-check
W=${KXLD_CHECK_DIR:-$ROOT/build/kxld-check}
TOOL=$ROOT/target/debug/kxld-check
KXLD=$W/kxld-link

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
    printf 'kxld-check: error: %s\n' "$1" >&2
    [ $# -lt 2 ] || printf 'kxld-check: fix: %s\n' "$2" >&2
    exit 1
}

kext=$ROOT/build/RustKext.kext
plist=""
kernel=""
plugins=""
negative=no
dry_run=no
while [ $# -gt 0 ]; do
    case $1 in
        --kext) kext=${2:?--kext PATH}; shift 2 ;;
        --plist) plist=${2:?--plist FILE}; shift 2 ;;
        --kernel) kernel=${2:?--kernel FILE}; shift 2 ;;
        --plugins) plugins=${2:?--plugins DIR}; shift 2 ;;
        --negative) negative=yes; shift ;;
        --dry-run) dry_run=yes; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1" "tools/kxld-check/kxld-check.sh --help" ;;
    esac
done

# ---- what to link ----
if [ -d "$kext" ]; then
    [ -f "$kext/Contents/Info.plist" ] || die "$kext is not a kext bundle (no Contents/Info.plist)"
    [ -n "$plist" ] || plist=$kext/Contents/Info.plist
    exe=$(sed -n '/<key>CFBundleExecutable<\/key>/{n;s/.*<string>\(.*\)<\/string>.*/\1/p;}' "$kext/Contents/Info.plist")
    [ -n "$exe" ] || die "$kext/Contents/Info.plist names no CFBundleExecutable (an XML plist is expected)"
    binary=$kext/Contents/MacOS/$exe
elif [ -f "$kext" ]; then
    binary=$kext
    [ -n "$plist" ] || plist=$ROOT/build/Info.plist
else
    die "no kext at $kext" "build it first: KERNEL_HEADERS=<Kernel.framework/Headers> ./build.sh (Linux, tools/kextld) or ./build.sh on macOS; or pass --kext"
fi
[ -f "$binary" ] || die "the kext binary $binary does not exist"
[ -f "$plist" ] || die "no Info.plist at $plist" "pass --plist <Info.plist of the kext>"
if [ -n "$kernel$plugins" ]; then
    [ -n "$kernel" ] && [ -n "$plugins" ] || die "--kernel and --plugins go together"
    [ -f "$kernel" ] || die "no kernel at $kernel"
    [ -d "$plugins" ] || die "no KPI pseudo-kexts directory at $plugins"
    mode=real
else
    mode=model
    [ -n "${KERNEL_HEADERS:-}" ] || die "KERNEL_HEADERS is not set: the kernel model's vtables come from the headers" \
        "KERNEL_HEADERS=/opt/MacKernelSDK/Headers tools/kxld-check/kxld-check.sh (or, on a Mac, --kernel/--plugins)"
    [ -f "$KERNEL_HEADERS/IOKit/IOService.h" ] || die "KERNEL_HEADERS=$KERNEL_HEADERS holds no IOKit/IOService.h"
    kernel=$W/model/kernel
    plugins=$W/model/System.kext/PlugIns
fi
[ -n "${XNU_SOURCE:-}" ] || die "XNU_SOURCE is not set (an xnu git directory or source tree: kxld and the KPI lists come from it)" \
    "XNU_SOURCE=<xnu clone> tools/kxld-check/kxld-check.sh"
[ -e "$XNU_SOURCE" ] || die "XNU_SOURCE=$XNU_SOURCE does not exist"
if [ "$dry_run" = yes ]; then
    echo "kext binary: $binary"
    echo "kext Info.plist: $plist"
    echo "kernel ($mode): $kernel"
    echo "KPI pseudo-kexts ($mode): $plugins"
    echo "xnu: $XNU_SOURCE (tag ${XNU_TAG:-xnu-6153.141.1} if a git directory)"
    echo "negative tests: $negative"
    exit 0
fi

# ---- kxld and the tool ----
start=$SECONDS
step "kxld from $XNU_SOURCE (libkern/kxld + tools/kxld-check/glue + driver/kxld-link.c)"
"$HERE/build-kxld.sh" "$XNU_SOURCE" "$W" | sed 's/^/    /'
note "$((SECONDS - start)) s"
step "tools/kxld-check"
CARGO_TARGET_DIR=$ROOT/target cargo build -q -p kxld-check || die "building tools/kxld-check failed (see above)"

# ---- the kernel model ----
# build_model DIR [HEADER EDIT]...: the model in DIR; each EDIT (an awk program) changes a copy
# of HEADER (relative to KERNEL_HEADERS) first: the negative tests' "kernel built from other
# headers" (awk, not GNU sed, so it runs on macOS too).
build_model() {
    local dir=$1 classes isys=() header edit
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    # OSObject and OSMetaClass always (every metaclass vtable's parent is OSMetaClass's), then
    # what the kext's classes derive from.
    classes=$(printf '%s\n' OSObject OSMetaClass $("$TOOL" classes "$binary") | awk '!seen[$0]++')
    while [ $# -ge 2 ]; do
        header=$1 edit=$2
        shift 2
        mkdir -p "$(dirname "$dir/headers/$header")"
        awk "$edit" "$KERNEL_HEADERS/$header" >"$dir/headers/$header"
        cmp -s "$KERNEL_HEADERS/$header" "$dir/headers/$header" &&
            die "the edit '$edit' changed nothing in $header: the header is not what this test expects"
        isys=(-isystem "$dir/headers")
    done
    # shellcheck disable=SC2086 # one class per word
    "$TOOL" probe-source --headers "$KERNEL_HEADERS" $classes >"$dir/probe.cpp"
    # The shim's flags (build.sh), same deployment target: it changes MacKernelSDK's layouts.
    local cxx=(clang++-19 -target x86_64-apple-macos10.15)
    [ "$(uname -s)" = Darwin ] && cxx=(xcrun clang++ -arch x86_64 -mmacosx-version-min=10.15)
    "${cxx[@]}" -std=gnu++17 -mkernel -fapple-kext -fno-rtti -fno-exceptions -nostdinc \
        ${isys[@]+"${isys[@]}"} -isystem "$KERNEL_HEADERS" -DKERNEL -DKERNEL_PRIVATE -DDRIVER_PRIVATE -DAPPLE -DNeXT -O2 \
        -Xclang -fdump-vtable-layouts -c "$dir/probe.cpp" -o "$dir/probe.o" >"$dir/layouts.txt" ||
        die "compiling the vtable probe failed (see above)"
    # shellcheck disable=SC2086
    "$TOOL" model --config "$W/xnu/config" --probe-object "$dir/probe.o" --layouts "$dir/layouts.txt" \
        --out "$dir" $classes | sed 's/^/    /'
}

if [ "$mode" = model ]; then
    step "10.15 kernel model from $W/xnu/config and the vtables of $KERNEL_HEADERS"
    build_model "$W/model"
fi

# ---- the link ----
link() { "$TOOL" link --kxld "$KXLD" "$@"; }
step "kxld link of $binary against the $mode kernel"
link --kernel "$kernel" --plugins "$plugins" --kext "$binary" --plist "$plist" --out "$W/RustKext.linked" \
    >"$W/link.log" || { sed 's/^/    /' "$W/link.log"; die "the kxld check failed (see above)"; }
sed 's/^/    /' "$W/link.log"

[ "$negative" = yes ] || { step "kxld check passed ($((SECONDS - start)) s)"; exit 0; }

# ---- negative tests: each must fail, with the expected message ----
N=$W/negative
rm -rf "$N"
mkdir -p "$N"
failures=0
# expect_fail NAME MESSAGE CMD...: CMD must exit nonzero and print MESSAGE.
expect_fail() {
    local name=$1 message=$2 rc=0
    shift 2
    "$@" >"$N/$name.log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "    NEGATIVE $name: PASSED, but it must fail (log: $N/$name.log)"
        failures=$((failures + 1))
    elif grep -qF -- "$message" "$N/$name.log"; then
        echo "    NEGATIVE $name: failed as it must (exit $rc):"
        grep -E 'error:|ERROR|dependencies:|FAIL' "$N/$name.log" | head -8 | sed 's/^ */      /'
    else
        echo "    NEGATIVE $name: failed (exit $rc) but without \"$message\" (log: $N/$name.log)"
        failures=$((failures + 1))
    fi
}
neg_link() { link --plist "$plist" --out "$N/linked" "$@"; }
# expect_pass NAME MESSAGE COUNT CMD...: CMD must succeed and print MESSAGE on COUNT lines.
expect_pass() {
    local name=$1 message=$2 count=$3 n
    shift 3
    if "$@" >"$N/$name.log" 2>&1; then
        n=$(grep -cF -- "$message" "$N/$name.log" || true)
        if [ "$n" -eq "$count" ]; then
            echo "    POSITIVE $name: passed as it must:"
            grep -E 'patching detail|[1-9] patched by kxld|PASS' "$N/$name.log" | head -12 | sed 's/^ */      /'
            return
        fi
    fi
    echo "    POSITIVE $name: did not pass with \"$message\" on $count lines (log: $N/$name.log)"
    failures=$((failures + 1))
}

# reserved_slot CLASS N TEXT: an awk program replacing the first
# `OSMetaClassDeclareReservedUnused(CLASS, N);` (a pad slot) with TEXT (`&` = the macro itself).
reserved_slot() {
    local re="OSMetaClassDeclareReservedUnused\\($1, $2\\);"
    printf '!done && /%s/ { sub(/%s/, "%s"); done = 1 } { print }' "$re" "$re" "$3"
}

if [ "$mode" = model ]; then
    # The kernel's IOService has one virtual fewer than the kext's headers (systemWillShutdown
    # removed): every later slot moves up, a pad slot meets a real function.
    step "negative: out-of-date superclass vtable (the kernel's IOService has one virtual fewer)"
    build_model "$N/model-fewer" IOKit/IOService.h '!/^[[:space:]]*virtual void systemWillShutdown\( *IOOptionBits specifier *\);/' >/dev/null
    expect_fail outdated-fewer "is out of date. Make sure your kext has been built against the correct headers." \
        neg_link --kernel "$N/model-fewer/kernel" --plugins "$N/model-fewer/System.kext/PlugIns" --kext "$binary"
    # One virtual more, before IOService's pad slots: the superclass vtable is longer than the
    # kext's.
    step "negative: out-of-date superclass vtable (the kernel's IOService has one virtual more)"
    build_model "$N/model-more" IOKit/IOService.h "$(reserved_slot IOService 2 'virtual void rkModelExtraVirtual(); &')" >/dev/null
    expect_fail outdated-more "is malformed. Make sure your kext has been built against the correct headers." \
        neg_link --kernel "$N/model-more/kernel" --plugins "$N/model-more/System.kext/PlugIns" --kext "$binary"
    # The kernel is newer than the kext's headers: it uses IOService's reserved slot 2 and
    # OSMetaClass's reserved slot 0 for new virtuals. The kext's vtables still name the pad slots
    # there; kxld must patch those slots of both classes and both metaclasses to the kernel's new
    # functions (binary compatibility), and the verifier must find exactly those four.
    step "patching: the kernel fills pad slots of IOService and OSMetaClass with new virtuals (the kext must still link)"
    build_model "$N/model-newer" \
        IOKit/IOService.h "$(reserved_slot IOService 2 'private: virtual void rkModelNewInSlot2();')" \
        libkern/c++/OSMetaClass.h "$(reserved_slot OSMetaClass 0 'private: virtual void rkModelNewMetaSlot0();')" >/dev/null
    expect_pass newer-kernel-patched " 1 patched by kxld to the kernel's function (slot " 4 \
        neg_link --kernel "$N/model-newer/kernel" --plugins "$N/model-newer/System.kext/PlugIns" --kext "$binary"
fi

step "negative: a KPI missing from OSBundleLibraries (com.apple.kpi.bsd removed: kauth is BSD's)"
"$TOOL" edit-plist "$plist" "$N/no-bsd.plist" --remove-library com.apple.kpi.bsd
expect_fail undeclared-kpi "The following symbols are unresolved for this kext:" \
    link --kernel "$kernel" --plugins "$plugins" --kext "$binary" --plist "$N/no-bsd.plist" --out "$N/linked"

step "negative: a stripped metaclass vtable"
# (awk reads all the tool prints: a reader that stops early would break the tool's pipe)
meta=$("$TOOL" vtables "$binary" | awk '/9MetaClassE$/ && m == "" {m = $0} END {print m}')
[ -n "$meta" ] || die "the kext defines no metaclass vtable (__ZTVN...9MetaClassE)"
"$TOOL" strip-symbol "$binary" "$N/stripped" "$meta"
expect_fail stripped-metaclass-vtable "This vtable symbol is required for binary compatibility, and it may have been stripped." \
    neg_link --kernel "$kernel" --plugins "$plugins" --kext "$N/stripped"

step "negative: a declared KPI version newer than the kernel's (com.apple.kpi.iokit 99.0.0)"
"$TOOL" edit-plist "$plist" "$N/too-new.plist" --set-library com.apple.kpi.iokit=99.0.0
expect_fail kpi-version-too-new "not compatible with requested version 99.0.0" \
    link --kernel "$kernel" --plugins "$plugins" --kext "$binary" --plist "$N/too-new.plist" --out "$N/linked"

step "negative: a declared KPI version below what the library is compatible with (com.apple.kpi.bsd 7.0; it goes back to 8.0)"
"$TOOL" edit-plist "$plist" "$N/too-old.plist" --set-library com.apple.kpi.bsd=7.0
expect_fail kpi-version-too-old "not compatible with requested version 7.0" \
    link --kernel "$kernel" --plugins "$plugins" --kext "$binary" --plist "$N/too-old.plist" --out "$N/linked"

step "negative: the verifier itself catches a wrong fixup (one byte of kxld's output changed)"
# The first external BRANCH: its rel32 is what kxld computed for a call into the kernel.
site=$("$TOOL" reloc-sites "$binary" | awk '$2 == "BRANCH" && s == "" {s = $1} END {print s}')
[ -n "$site" ] || die "the kext has no external BRANCH relocation"
cp "$W/RustKext.linked" "$N/corrupt.linked"
byte=$(od -An -tu1 -j "$site" -N1 "$N/corrupt.linked" | tr -d ' ')
printf "\\$(printf '%03o' $(((byte + 1) % 256)))" | dd of="$N/corrupt.linked" bs=1 seek="$site" conv=notrunc 2>/dev/null
expect_fail verifier-catches-wrong-fixup "kxld wrote" \
    "$TOOL" verify --record "$W/RustKext.linked.record" --linked "$N/corrupt.linked"

if [ "$mode" = model ]; then
    # The macOS forms, run here with stand-ins: the model's files laid out as a Mac's
    # /System/Library (--kernel/--plugins), and the kext as a bare binary + Info.plist (what
    # build_macos leaves in build/x86_64/). This script runs itself with those options.
    step "the macOS options with stand-ins: --kernel/--plugins (model files as /System/Library) and --kext BINARY --plist"
    sys=$N/fake-mac/System/Library
    mkdir -p "$sys/Kernels" "$sys/Extensions/System.kext"
    cp "$W/model/kernel" "$sys/Kernels/kernel"
    cp -R "$W/model/System.kext/PlugIns" "$sys/Extensions/System.kext/"
    expect_pass mac-options "PASS: kxld linked the kext" 1 \
        env KXLD_CHECK_DIR="$N/fake-mac/work" "$0" --kext "$binary" --plist "$plist" \
        --kernel "$sys/Kernels/kernel" --plugins "$sys/Extensions/System.kext/PlugIns"
    grep -E '^    (kext |kernel )' "$N/mac-options.log" | sed 's/^ */      /'
fi

if [ "$failures" -ne 0 ]; then
    die "$failures negative test(s) did not fail as they must (see above)"
fi
step "kxld check and every negative test passed ($((SECONDS - start)) s)"
