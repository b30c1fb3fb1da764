#!/usr/bin/env bash
# Compiles the one C++ shim with a kext's names, and its kmod glue, for the x86_64 kernel with
# clang-19 (Linux), against Kernel.framework headers. The glue gets -DRUSTKEXT_KMOD_START_STOP: it
# defines _start/_stop itself, since the Linux link (tools/kextld) has no Apple libkmod.a.
# Usage: scripts/shim-linux.sh <Kernel.framework/Headers> <out dir> <glue.c> <shim define>...
#   (the defines: `rustkext shim-defines KEXT_DIR`)
# Prints the objects, one per line.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/kernel-flags.sh
. "$ROOT/scripts/kernel-flags.sh"
headers=$1
out=$2
glue=$3
shift 3
defines=("$@")
[ ${#defines[@]} -gt 0 ] || { echo "shim-linux.sh: no shim defines (rustkext shim-defines)" >&2; exit 2; }
mkdir -p "$out"
target=(-target "x86_64-apple-macos$(deployment_target x86_64)")
# Without this flag upstream clang lowers OSMetaClass static destructors to ___cxa_atexit, which
# no KPI exports (docs/toolchain.md).
for src in "$ROOT"/shim-cpp/*.cpp; do
    obj="$out/$(basename "$src" .cpp).o"
    clang++-19 "${target[@]}" "${KERNEL_CXXFLAGS[@]}" "${KERNEL_CFLAGS[@]}" "${defines[@]}" -isystem "$headers" \
        -mllvm -disable-atexit-based-global-dtor-lowering -c "$src" -o "$obj" >&2
    echo "$obj"
done
obj="$out/$(basename "$glue" .c).o"
clang-19 "${target[@]}" "${KERNEL_CFLAGS[@]}" -isystem "$headers" -DRUSTKEXT_KMOD_START_STOP -c "$glue" -o "$obj" >&2
echo "$obj"
