#!/usr/bin/env bash
# Shows that each target finds a bug of the kind it is there for (docs/testing.md "Fuzzing"): applies one
# seeded bug at a time to the working tree, runs the target that must find it for the CI budget
# from the committed seeds (FUZZ_FRESH=1; FUZZ_NO_SEEDS=1 from nothing), prints how long it took,
# and reverts the patch. Never part of CI; the patches are never applied by any build.
#
#   fuzz/seeded-bugs/run.sh [BUG...]     # default: every *.patch here; BUDGET=30 seconds (the CI budget)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUDGET=${BUDGET:-30}
declare -A TARGET=(
    [selector-bound]=external_methods
    [refusal-writes-output]=external_methods
    [id-reuse]=lifecycle
    [early-self-termination]=lifecycle
    [missing-nul-check]=path_filter
    [torn-prefix]=path_filter
    [shim-leak]=shim_sim
)
if ! git diff --quiet -- framework kext shim-cpp; then
    echo "framework/, kext/ or shim-cpp/ has uncommitted changes: the patches apply to a clean tree" >&2
    exit 1
fi
BUGS=("$@")
[ ${#BUGS[@]} -gt 0 ] || BUGS=(selector-bound refusal-writes-output id-reuse early-self-termination missing-nul-check torn-prefix shim-leak)
status=0
for bug in "${BUGS[@]}"; do
    patch=fuzz/seeded-bugs/$bug.patch
    t=${TARGET[$bug]}
    git apply "$patch"
    trap 'git apply -R "$patch"' EXIT
    out=$(FUZZ_FRESH=${FUZZ_FRESH:-1} fuzz/run.sh "$BUDGET" "$t" 2>&1) && found=0 || found=1
    git apply -R "$patch"
    trap - EXIT
    if [ $found = 1 ] && grep -q "FAILED after" <<<"$out"; then
        why=$(grep -m1 -A1 'panicked at' <<<"$out" | tail -1; grep -m1 'ERROR: [A-Za-z]*Sanitizer' <<<"$out" || true)
        echo "$bug ($t): found: $(grep -o 'FAILED after.*executions' <<<"$out"): ${why:0:200}"
    else
        echo "$bug ($t): NOT found within $BUDGET s"
        grep -v '^#' <<<"$out" | tail -5
        status=1
    fi
done
exit $status
