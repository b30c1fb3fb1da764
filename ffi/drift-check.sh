#!/usr/bin/env bash
# Drift check of include/kpi.h against real Kernel.framework headers (see examples/drift_check.rs).
# Usage: KERNEL_HEADERS=<Kernel.framework/Headers> ffi/drift-check.sh [clang-target]
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup.sh)"
: "${KERNEL_HEADERS:?set KERNEL_HEADERS to a Kernel.framework/Headers directory}"
exec cargo run -q -p macos-kext-sys --example drift_check -- "$@"
