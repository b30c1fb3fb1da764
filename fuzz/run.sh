#!/usr/bin/env bash
# Builds the fuzz targets (docs/testing.md "Fuzzing") and runs them. CI (test.sh) runs each for a bounded
# time from the committed seed corpus; a longer run is the same command with more seconds.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        # default: 30 s each, every target
#   fuzz/run.sh build                        # build only
#   FUZZ_JOBS=2 fuzz/run.sh 3600 lifecycle   # an hour, two processes
#   FUZZ_LANES=2 fuzz/run.sh 35              # two targets at a time (what test.sh runs)
#
# Each run starts from fuzz/corpus/<target> (read only) and a scratch copy grows in
# $CARGO_TARGET_DIR/fuzz/corpus/<target>; a crash or an oracle mismatch fails the run and leaves
# the reproducer in $CARGO_TARGET_DIR/fuzz/artifacts/<target>/ (replay: <binary> <file>).
#
# The toolchain is the project's: rustup stable with RUSTC_BOOTSTRAP=1 for -Zsanitizer (as the
# xnu-sim ASan step); libFuzzer comes with the libfuzzer-sys crate. The flags are cargo-fuzz's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
eval "$(scripts/setup.sh)" # clang-19 (libFuzzer, the shim), libclang for bindgen
command -v clang++-19 >/dev/null && export CXX=${CXX:-clang++-19}
TARGETS=(external_methods lifecycle path_filter shim_sim)
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz"
HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN="$TARGET_DIR/$HOST/release"

build() {
    local start=$SECONDS
    # The shim's C++ (xnu-sim/build.rs) gets the same coverage instrumentation as the Rust.
    RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$TARGET_DIR" \
    XNU_SIM_KEXT_CFLAGS="-fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp" \
    RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address \
-Cforce-frame-pointers=yes" \
        cargo build -q --release --manifest-path fuzz/Cargo.toml --target "$HOST" --bins
    echo "fuzz: built in $((SECONDS - start)) s"
}

run() { # target seconds
    local t=$1 secs=$2
    local seeds="$ROOT/fuzz/corpus/$t" work="$TARGET_DIR/corpus/$t" art="$TARGET_DIR/artifacts/$t/"
    mkdir -p "$work" "$art"
    # FUZZ_FRESH=1: start from the committed seeds only (the scratch corpus emptied first);
    # FUZZ_NO_SEEDS=1: from nothing at all.
    [ "${FUZZ_FRESH:-}" = 1 ] || [ "${FUZZ_NO_SEEDS:-}" = 1 ] && rm -rf "$work" && mkdir -p "$work"
    [ "${FUZZ_NO_SEEDS:-}" = 1 ] && seeds=""
    local log="$TARGET_DIR/$t.log" start=$SECONDS
    local jobs=()
    [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    if ASAN_OPTIONS="abort_on_error=1:symbolize=1" LSAN_OPTIONS="suppressions=$ROOT/fuzz/lsan.supp" "$BIN/$t" "$work" ${seeds:+"$seeds"} \
        -max_total_time="$secs" -artifact_prefix="$art" -print_final_stats=1 \
        -max_len=8192 -rss_limit_mb=4096 "${jobs[@]}" >"$log" 2>&1; then
        local execs rate
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        echo "fuzz: $t: $((SECONDS - start)) s, ${execs:-?} executions (${rate:-?}/s), $(ls "$work" | wc -l) inputs in the corpus"
    else
        echo "fuzz: $t FAILED after $((SECONDS - start)) s, $(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1) executions; the end of $log:" >&2
        # The finding first (the oracle's difference or the sanitizer's report), then the end.
        grep -m1 -A1 'panicked at' "$log" >&2 || true
        grep -m1 -A12 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer' "$log" >&2 || true
        grep -v '^#[0-9]' "$log" | tail -20 >&2
        echo "reproducer(s): $(ls "$art")" >&2
        return 1
    fi
}

if [ "${1:-}" = build ]; then
    build
    exit 0
fi
SECS=${1:-30}
shift || true
[ $# -gt 0 ] && TARGETS=("$@")
build
# FUZZ_LANES=N: N targets at a time (test.sh: 2, one per core), each still for SECS.
lanes=${FUZZ_LANES:-1}
pids=()
for ((lane = 0; lane < lanes; lane++)); do
    (
        status=0
        for ((i = lane; i < ${#TARGETS[@]}; i += lanes)); do
            run "${TARGETS[$i]}" "$SECS" || status=1
        done
        exit $status
    ) &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit $status
