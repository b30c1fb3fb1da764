#!/usr/bin/env bash
# Line coverage of the framework's runtime and ABI crates, the monitor driver and the shim reached
# by the committed seed corpora (docs/testing.md "Fuzzing"): every target rebuilt with source-based coverage (rustc -C instrument-coverage for
# the Rust, clang -fprofile-instr-generate -fcoverage-mapping for the shim through
# XNU_SIM_KEXT_CFLAGS), each corpus run once (-runs=0), the profiles merged and reported with
# llvm-profdata-19 / llvm-cov-19. Writes the per-file table to $CARGO_TARGET_DIR/fuzz-cov/report.txt.
#
#   fuzz/coverage.sh [CORPUS_ROOT]     # default: fuzz/corpus (a directory per target)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
eval "$(scripts/setup.sh)" # clang-19 (libFuzzer, the shim), libclang for bindgen
command -v clang++-19 >/dev/null && export CXX=${CXX:-clang++-19}
CORPUS=${1:-$ROOT/fuzz/corpus}
TARGETS=(external_methods lifecycle path_filter shim_sim)
DIR="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz-cov"
HOST=$(rustc -vV | sed -n 's/^host: //p')
start=$SECONDS
RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$DIR" RUSTFLAGS="-Cinstrument-coverage --cfg fuzzing" \
XNU_SIM_KEXT_CFLAGS="-fprofile-instr-generate -fcoverage-mapping" \
    cargo build -q --release --manifest-path fuzz/Cargo.toml --target "$HOST" --bins
echo "coverage: built in $((SECONDS - start)) s"
rm -rf "$DIR/profraw" && mkdir -p "$DIR/profraw"
objects=()
for t in "${TARGETS[@]}"; do
    bin="$DIR/$HOST/release/$t"
    LLVM_PROFILE_FILE="$DIR/profraw/$t-%p-%m.profraw" "$bin" -runs=0 "$CORPUS/$t" >"$DIR/$t.log" 2>&1 ||
        { echo "coverage: $t failed on its corpus (see $DIR/$t.log)" >&2; exit 1; }
    objects+=(-object "$bin")
done
llvm-profdata-19 merge -sparse "$DIR"/profraw/*.profraw -o "$DIR/all.profdata"
# The first binary is positional, the others -object.
llvm-cov-19 report "${objects[@]:1}" -instr-profile="$DIR/all.profdata" \
    "$ROOT/framework/runtime/src" "$ROOT/framework/abi/src" "$ROOT/kext/driver/src" "$ROOT/shim-cpp" \
    >"$DIR/report.txt"
sed "s|$ROOT/||" "$DIR/report.txt"
echo "coverage: $((SECONDS - start)) s; line-by-line: llvm-cov-19 show ${objects[*]} -instr-profile=$DIR/all.profdata <file>"
