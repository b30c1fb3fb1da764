#!/usr/bin/env bash
# Builds kxld-link: xnu's kext linker (libkern/kxld of the given xnu tree) + the project's glue
# (glue/, Linux only) + driver/kxld-link.c. Nothing of xnu is kept outside OUT_DIR.
#
#   build-kxld.sh XNU_SOURCE OUT_DIR
#
# XNU_SOURCE: an xnu git directory (bare clone or .git: the tag XNU_TAG, default
# xnu-6153.141.1 = macOS 10.15.6, is taken with `git archive`) or an xnu source tree
# (libkern/kxld/kxld.c inside; used as it is). Writes OUT_DIR/xnu/ (the ~1 MB of the tree that
# is needed: libkern/kxld, three headers, EXTERNAL_HEADERS/mach-o, config/) and
# OUT_DIR/kxld-link.
set -euo pipefail

src=${1:?usage: build-kxld.sh XNU_SOURCE OUT_DIR}
out=${2:?usage: build-kxld.sh XNU_SOURCE OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tag=${XNU_TAG:-xnu-6153.141.1}

# What the build and the model read from the tree (libkern/kxld/Makefile's INCLUDES, plus the
# headers it reaches through "../../osfmk/mach/machine.h" and <os/overflow.h>, plus config/).
paths=(libkern/kxld libkern/libkern/kxld.h libkern/libkern/kxld_types.h libkern/os/overflow.h
    osfmk/mach/machine.h EXTERNAL_HEADERS/mach-o EXTERNAL_HEADERS/AssertMacros.h
    EXTERNAL_HEADERS/architecture/byte_order.h config)
# libkern/kxld/Makefile's OBJ_NAMES (the user-space libkxld).
units=(kxld kxld_array kxld_copyright kxld_demangle kxld_dict kxld_kext kxld_object kxld_reloc
    kxld_sect kxld_seg kxld_srcversion kxld_splitinfolc kxld_sym kxld_symtab kxld_util kxld_uuid
    kxld_vtable kxld_versionmin)

xnu=$out/xnu
rm -rf "$xnu"
mkdir -p "$xnu" "$out/obj"
if [ -f "$src/libkern/kxld/kxld.c" ]; then
    (cd "$src" && tar -cf - "${paths[@]}") | tar -xf - -C "$xnu"
    version=$(grep -v '^#' "$src/config/MasterVersion" | grep . | tail -1)
    echo "xnu source tree $src (config/MasterVersion $version)"
    case $version in
        19.*) ;;
        *) echo "note: this tree is Darwin $version, not 19 (macOS 10.15): its kxld and KPI lists are checked as they are" ;;
    esac
elif git --git-dir="$src" rev-parse -q --verify "$tag^{commit}" >/dev/null 2>&1; then
    git --git-dir="$src" archive "$tag" "${paths[@]}" | tar -xf - -C "$xnu"
    echo "xnu git directory $src, tag $tag"
else
    echo "build-kxld.sh: $src is neither an xnu source tree (libkern/kxld/kxld.c) nor a git directory with tag $tag" >&2
    exit 1
fi

case "$(uname -s)" in
    Linux)
        cc=(clang-19)
        # The glue first: it replaces the Darwin headers glibc lacks (and xnu's own kernel-side
        # ones kxld would otherwise reach).
        incs=(-include "$here/glue/include/darwin_glue.h" -I"$here/glue/include")
        extra=("$here/glue/glue.c")
        libs=(-lstdc++)
        ;;
    Darwin)
        # As xnu's libkern/kxld/Makefile builds libkxld.dylib: the SDK has every Darwin header.
        cc=(xcrun clang)
        incs=()
        extra=()
        libs=(-lc++)
        ;;
    *) echo "build-kxld.sh: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
# -DPRIVATE and the include order of libkern/kxld/Makefile; -Wno-format: kxld prints
# uint64_t with %llu, which is `unsigned long` on LP64 Linux (same width).
# ${a[@]+"${a[@]}"}: an empty array that macOS's bash 3.2 accepts under set -u.
flags=(-std=gnu99 -O2 -g -DPRIVATE -Wall -Wno-format -Wno-unused-but-set-variable
    ${incs[@]+"${incs[@]}"} -I"$xnu/libkern/libkern" -I"$xnu/libkern" -I"$xnu/osfmk" -isystem "$xnu/EXTERNAL_HEADERS")

objs=()
pids=()
for u in "${units[@]}"; do
    [ -f "$xnu/libkern/kxld/$u.c" ] || { echo "build-kxld.sh: $xnu/libkern/kxld/$u.c missing" >&2; exit 1; }
    "${cc[@]}" "${flags[@]}" -c "$xnu/libkern/kxld/$u.c" -o "$out/obj/$u.o" &
    pids+=($!)
    objs+=("$out/obj/$u.o")
    # two at a time (the machine is shared)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in ${pids[@]+"${pids[@]}"}; do wait "$p"; done
"${cc[@]}" "${flags[@]}" ${extra[@]+"${extra[@]}"} "$here/driver/kxld-link.c" "${objs[@]}" "${libs[@]}" -o "$out/kxld-link"
echo "kxld-link: $out/kxld-link (${#units[@]} kxld units from $(du -sh "$xnu" | cut -f1) of xnu)"
