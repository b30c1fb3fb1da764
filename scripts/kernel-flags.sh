# shellcheck shell=bash
# The kernel compile flags, sourced by build.sh and scripts/shim-linux.sh (one definition).
# Same deployment target in every step (docs/toolchain.md): it changes the headers' vtable layout.
# Needs ROOT (the repository root).
deployment_target() { case $1 in x86_64) echo 10.15 ;; arm64e) echo 11.0 ;; esac; }
# -g: debug info for the dSYM (docs/panic-guide.md).
KERNEL_CFLAGS=(-mkernel -nostdinc -DKERNEL -DKERNEL_PRIVATE -DDRIVER_PRIVATE -DAPPLE -DNeXT -O2 -g
    -Wall -Wextra -Werror -I"$ROOT/shim-cpp")
KERNEL_CXXFLAGS=(-std=gnu++17 -fapple-kext -fno-rtti -fno-exceptions)
# The Rust kernel library: line tables, for symbolicated backtraces (the dSYM reads them from the
# archive's objects through the kext's debug map).
KERNEL_RUSTFLAGS="-Cdebuginfo=line-tables-only"

# json_target_spec_flag CARGO...: cargo from 2026 on (rust-lang/cargo#16557) refuses a `.json`
# target without -Zjson-target-spec, older cargo does not know the flag (docs/audit.md #3): print it
# only when this cargo lists it (`cargo -Z help`, which works on every channel).
json_target_spec_flag() {
    if "$@" -Z help 2>/dev/null | grep -q -- '-Z json-target-spec'; then
        echo -Zjson-target-spec
    fi
}
