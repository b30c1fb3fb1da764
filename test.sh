#!/usr/bin/env bash
# The test command (README): every suite of the project, or the ones named; stops at the first
# failure. `./test.sh --help` lists the suites.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD

# name|what it runs (the order is the order of a full run)
SUITES=(
    "core|framework (runtime, ABI, macros, build), the monitor, examples/execcount, loom, clippy"
    "ffi|macos-kext-sys: generated constants; the Rust kernel library for x86_64 and arm64e, checked"
    "kext-check|kext-check, kextld, kxld-check; build.sh's macOS path and install/load/unload with stand-ins"
    "sim|xnu-sim: the kexts on the kernel model"
    "asan|xnu-sim under AddressSanitizer (leaks checked)"
    "fuzz|libFuzzer under ASan against reference models: C ABI, lifecycle, the shim on xnu-sim, path filter"
    "tsan|xnu-sim under ThreadSanitizer (Linux)"
    "harness|userclient-test on xnu-sim and on the IOKitLib stand-in (iokit backend)"
    "macos-typecheck|the IOKit.framework code type-checked for x86_64-apple-darwin (Linux)"
    "scaffold|rustkext new: a new kext built for both kernel targets and tested; the size budget enforced"
    "docs|every relative link in *.md resolves; the README's quick start runs as written"
)

usage() {
    cat <<'USAGE'
Usage: ./test.sh               every suite (what CI runs; about 13 minutes cold on 2 cores)
       ./test.sh SUITE...      only these suites, in the order given
       ./test.sh --help        this text

Suites:
USAGE
    for s in "${SUITES[@]}"; do printf '  %-16s %s\n' "${s%%|*}" "${s#*|}"; done
    cat <<'USAGE'

Environment: KERNEL_HEADERS (Kernel.framework headers: also the shim link and the header drift
check), CARGO_TARGET_DIR. Installs what it needs first (scripts/setup.sh).
USAGE
}

known() { local s; for s in "${SUITES[@]}"; do [ "${s%%|*}" = "$1" ] && return 0; done; return 1; }

selected=()
for arg in "$@"; do
    case $arg in
    -h | --help | help) usage; exit 0 ;;
    *)
        if ! known "$arg"; then
            printf 'test.sh: unknown suite %s\n\n' "$arg" >&2
            usage >&2
            exit 2
        fi
        selected+=("$arg")
        ;;
    esac
done
if [ ${#selected[@]} -eq 0 ]; then
    for s in "${SUITES[@]}"; do selected+=("${s%%|*}"); done
fi

eval "$(scripts/setup.sh)"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
step() { printf '\n==> [%d s] %s\n' "$SECONDS" "$*"; }
on_linux() { [ "$(uname -s)" = Linux ]; }
host_triple() { rustc -vV | sed -n 's/^host: //p'; }

suite_core() {
    # Separate invocations: a kext's glue crate turns on the runtime's `exports` (the kernel
    # mutex), which a driver's unit tests must not link (cargo unifies features per invocation).
    step "framework: rustkext (runtime, C ABI header in step), rustkext-abi, rustkext-macros, rustkext-build (identity, Info.plist in step)"
    cargo test -p rustkext -p rustkext-abi -p rustkext-macros -p rustkext-build --features rustkext-abi/std
    step "monitor: driver unit and property tests, external methods through the framework's dispatch"
    cargo test -p rustkext-monitor -p rustkext-monitor-api
    step "monitor: the C ABI under its symbol prefix (kernel functions from xnu-sim), generated client and conformance suite on xnu-sim"
    cargo test -p rustkext-monitor-kext
    step "loom model checks of the callback gate, the unload policy (framework) and the path filter (monitor)"
    # Own target dir: --cfg loom rebuilds every dependency. LOOM_MAX_PREEMPTIONS=3 finds every
    # seeded bug tried (framework/runtime/README.md) in seconds; 4 takes about 90 s more.
    RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR="$TARGET/loom" \
        cargo test -p rustkext -p rustkext-monitor --release --test loom_gate --test loom_lifecycle --test loom_filter
    step "examples/execcount (the second example): its build.sh (kernel objects for x86_64 and arm64e, checked), its tests on xnu-sim (generated conformance suite)"
    examples/execcount/build.sh
    cargo test -p execcount-driver -p execcount-api
    cargo test -p execcount-kext
    step "rustkext-iokit: the IOKit.framework transport on the IOKitLib stand-in (ExecCount's CLI serves the simulated kernel; the CLI's --iokit)"
    cargo test -p execcount-cli
    step "clippy with the kernel lints (framework, monitor, execcount; --all-targets compiles the benchmark)"
    cargo clippy -q -p rustkext -p rustkext-abi -p rustkext-macros -p rustkext-build -p rustkext-sim \
        -p rustkext-monitor -p rustkext-monitor-api -p rustkext-monitor-kext \
        -p execcount-api -p execcount-driver -p execcount-kext -p execcount-cli -p rustkext-iokit --all-targets -- -D warnings
}

suite_ffi() {
    step "macos-kext-sys: generated constants against the values in docs/kernel-facts.md"
    cargo test -p macos-kext-sys
    step "the Rust kernel library (macos-kext-sys in it) for the x86_64 and arm64e kernel targets, checked by kext-check"
    # The same build as build.sh's (scripts/kernel-lib.sh, target/kernel): after ./build.sh it is done.
    cargo build -q -p kext-check
    "$TARGET/debug/kext-check" objects --arch x86_64 "$(scripts/kernel-lib.sh x86_64)" >/dev/null
    # arm64e: checked as build.sh links it, marked with the kernel pointer-auth ABI.
    local marked
    marked=$(mktemp -d)
    "$TARGET/debug/kext-check" mark-kernel-abi "$(scripts/kernel-lib.sh arm64e)" "$marked/librustkext.a" >/dev/null
    "$TARGET/debug/kext-check" objects --arch arm64e "$marked/librustkext.a" >/dev/null
    rm -rf "$marked"
    if [ -n "${KERNEL_HEADERS:-}" ]; then
        step "macos-kext-sys: drift check of ffi/include/kpi.h against $KERNEL_HEADERS"
        ffi/drift-check.sh
    fi
}

suite_kext_check() {
    step "kext-check: bad objects rejected (SSE, x87, arm64e FP/SIMD, undeclared import, wrong cpu, panics), Info.plist rules"
    cargo test -p kext-check
    step "kextld: each relocation kind, each refusal, the file's shape and debug map; the Rust kernel library linked and every relocation checked"
    # tests/project_inputs.rs builds the kernel library with scripts/kernel-lib.sh when build.sh
    # has not; the shim is linked too only with KERNEL_HEADERS.
    [ -n "${KERNEL_HEADERS:-}" ] || echo "    (KERNEL_HEADERS not set: the shim + kmod glue link test is skipped, the Rust library link test runs)"
    cargo test -p kextld
    cargo clippy -q -p kextld --all-targets -- -D warnings
    if on_linux; then
        step "build.sh's macOS path with stand-ins for xcrun/codesign/lipo/kmutil/rustup (each command recorded and checked)"
        tests/macos-path/run.sh
    fi
    step "./build.sh install/load/unload/uninstall/status with stand-ins for the Mac's tools, on 10.15 and 15"
    tests/manage/run.sh
    step "kxld-check: version rule, KPI lists, vtable dump + probe (clang-19), kernel model, verifier, strip, script options"
    # The kxld link itself needs an xnu tree and Kernel.framework headers (a developer check,
    # docs/toolchain.md); this is the check's own logic, on inputs of our own.
    cargo test -p kxld-check
}

suite_sim() {
    step "xnu-sim: the monitor and execcount (the one shim with their names and their Rust) on the kernel model"
    cargo test -p xnu-sim
}

suite_asan() {
    step "xnu-sim under AddressSanitizer (C++ and Rust instrumented, leaks checked)"
    # -Zsanitizer is unstable: RUSTC_BOOTSTRAP lets the stable toolchain take it; rustup ships
    # the runtime. Its own target dir, because every crate is rebuilt instrumented.
    RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1" \
        CARGO_TARGET_DIR="$TARGET/xnu-sim-asan" cargo test -p xnu-sim --target "$(host_triple)"
}

suite_fuzz() {
    step "fuzz: external methods, lifecycle, the shim on xnu-sim, the path filter (libFuzzer, ASan), 30 s each from the committed seeds, two at a time"
    # docs/testing.md "Fuzzing": any crash, sanitizer report or difference from the reference
    # models fails. fuzz/run.sh installs what it needs through scripts/setup.sh; its own target
    # dir ($TARGET/fuzz: every crate is instrumented).
    FUZZ_FRESH=1 FUZZ_LANES=2 fuzz/run.sh 30
}

suite_tsan() {
    if ! on_linux; then
        step "tsan: skipped (the instrumented std is built with Debian's toolchain, on Linux)"
        return 0
    fi
    step "xnu-sim under ThreadSanitizer (std rebuilt instrumented)"
    # TSan needs std instrumented too: rustup's toolchains cannot rebuild it (no rust-src), so
    # Debian's cargo/rustc rebuild it from rust-web-src, and clang-19's TSan runtime is linked.
    local runtime=/usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.tsan-x86_64.a
    if [ ! -f "$runtime" ]; then
        echo "missing $runtime: apt-get install -y libclang-rt-19-dev" >&2
        exit 1
    fi
    RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc TSAN_OPTIONS="halt_on_error=1" \
        RUSTFLAGS="-Zsanitizer=thread -Zexternal-clangrt -Clinker=clang++-19 -Clink-arg=-fsanitize=thread" \
        CARGO_TARGET_DIR="$TARGET/xnu-sim-tsan" \
        /usr/bin/cargo test -Zbuild-std -p xnu-sim --lib --tests --target "$(/usr/bin/rustc -vV | sed -n 's/^host: //p')"
}

suite_harness() {
    step "userclient-test: every scenario on xnu-sim, failing-backend, CLI and JSON report tests; the IOKitLib stand-in (iokitlib-sim)"
    cargo test -p userclient-test -p iokitlib-sim
    step "userclient-test: the IOKit.framework backend, unchanged, on the IOKitLib stand-in and a simulated kernel in its own process"
    # As root (CI): every scenario runs; without root file-activity, unload-refused and
    # autounload are skipped. Any FAIL exits non-zero.
    cargo run -q -p userclient-test -- --backend iokit scenario all
}

suite_macos_typecheck() {
    if ! on_linux; then
        step "macos-typecheck: skipped (on macOS the harness suite compiles the IOKit.framework backend)"
        return 0
    fi
    step "rustkext-iokit and userclient-test: type-check of the IOKit.framework transport and backend for x86_64-apple-darwin"
    env -u KERNEL_HEADERS CARGO_TARGET_DIR="$TARGET/darwin-check" \
        RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo check -q -p rustkext-iokit -p userclient-test \
        --no-default-features -Zbuild-std=std,panic_abort --target x86_64-apple-darwin
}

suite_scaffold() {
    step "scaffold: rustkext new com.example.OpenWatch into a temporary directory; its build.sh (kernel objects for x86_64 and arm64e, checked), its tests on xnu-sim (generated conformance and adversarial suite), clippy, its CLI (in process, and --iokit over the IOKitLib stand-in)"
    # Shares the kernel and host target directories: the framework's crates and the standard
    # library are built once (the scaffold copies Cargo.lock, so the versions match).
    scaffold=$(mktemp -d "${TMPDIR:-/tmp}/rustkext-scaffold.XXXXXX")
    trap 'rm -rf "$scaffold"' EXIT
    scripts/rustkext.sh new com.example.OpenWatch "$scaffold/openwatch"
    "$scaffold/openwatch/build.sh"
    step "scaffold: build.sh refuses a kext one byte over its [size-budget], for x86_64 and for arm64e"
    tests/size-budget/run.sh "$scaffold/openwatch"
    (
        cd "$scaffold/openwatch"
        export CARGO_TARGET_DIR="$TARGET"
        cargo test -p openwatch-driver -p openwatch-api
        cargo test -p openwatch-kext
        cargo clippy -q --all-targets -- -D warnings
        cargo run -q -p openwatch-cli -- status
        # The generated CLI's IOKit.framework transport: the IOKitLib stand-in, OpenWatch on a
        # simulated kernel the CLI serves in another process.
        answer=$(cargo run -q -p openwatch-cli -- --iokit ping 41)
        [ "$answer" = "Ping(41) = 42" ] || { echo "openwatch --iokit ping 41 answered '$answer'" >&2; exit 1; }
        cargo run -q -p openwatch-cli -- --iokit status
    )
}

suite_docs() {
    step "docs: every relative link in *.md and every docs/ citation resolves"
    tests/docs/links.sh
    step "docs: README.md at most 150 lines, its diff applies, its quick start shows counts increasing"
    tests/docs/readme.sh
}

for suite in "${selected[@]}"; do
    "suite_${suite//-/_}"
done
step "passed: ${selected[*]} ($SECONDS s)"
