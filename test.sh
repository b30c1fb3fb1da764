#!/usr/bin/env bash
# The test command (README). Runs every test suite of the project; fails on the first failure.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
eval "$(scripts/setup.sh)"

step() { printf '\n==> [%d s] %s\n' "$SECONDS" "$*"; }

# ---- the framework (framework/): unit, header, macro, identity tests ----
# Separate invocations: a kext's glue crate turns on the runtime's `exports` (the kernel mutex),
# which a driver's unit tests must not link (cargo unifies features within one invocation).
step "framework: rustkext (runtime, C ABI header in step), rustkext-abi, rustkext-macros, rustkext-build (identity, Info.plist in step)"
cargo test -p rustkext -p rustkext-abi -p rustkext-macros -p rustkext-build --features rustkext-abi/std

# ---- the monitor (kext/): driver, dispatch, C ABI, on the simulator; loom ----
step "monitor: driver unit and property tests, external methods through the framework's dispatch"
cargo test -p rustkext-monitor -p rustkext-monitor-api
step "monitor: the C ABI under its symbol prefix (kernel functions from xnu-sim), generated client and conformance suite on xnu-sim"
cargo test -p rustkext-monitor-kext
step "loom model checks of the callback gate, the unload policy (framework) and the path filter (monitor)"
# Own target dir: --cfg loom rebuilds every dependency. LOOM_MAX_PREEMPTIONS=3 finds every
# seeded bug tried (README) in seconds; 4 takes about 90 s more.
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" \
    cargo test -p rustkext -p rustkext-monitor --release --test loom_gate --test loom_lifecycle --test loom_filter
step "examples/execcount (the second example): its build.sh (kernel objects for x86_64 and arm64e, checked), its tests on xnu-sim (generated conformance suite)"
examples/execcount/build.sh
cargo test -p execcount-driver -p execcount-api
cargo test -p execcount-kext
step "clippy with the kernel lints (framework, monitor, execcount), and the benchmark builds"
cargo clippy -q -p rustkext -p rustkext-abi -p rustkext-macros -p rustkext-build -p rustkext-sim \
    -p rustkext-monitor -p rustkext-monitor-api -p rustkext-monitor-kext \
    -p execcount-api -p execcount-driver -p execcount-kext -p execcount-cli --all-targets -- -D warnings
cargo bench -q -p rustkext-monitor --no-run

# ---- ffi (ffi/): generated bindings ----
step "macos-kext-sys: generated constants against KERNEL-FACTS"
cargo test -p macos-kext-sys
step "the Rust kernel library (macos-kext-sys in it) for the x86_64 and arm64e kernel targets, checked by kext-check"
# The same build as build.sh's (scripts/kernel-lib.sh, target/kernel): after ./build.sh it is done.
cargo build -q -p kext-check
target/debug/kext-check objects --arch x86_64 "$(scripts/kernel-lib.sh x86_64)" >/dev/null
# arm64e: checked as build.sh links it, marked with the kernel pointer-auth ABI.
marked=$(mktemp -d)
target/debug/kext-check mark-kernel-abi "$(scripts/kernel-lib.sh arm64e)" "$marked/librustkext.a" >/dev/null
target/debug/kext-check objects --arch arm64e "$marked/librustkext.a" >/dev/null
rm -rf "$marked"
if [ -n "${KERNEL_HEADERS:-}" ]; then
    step "macos-kext-sys: drift check of ffi/include/kpi.h against $KERNEL_HEADERS"
    ffi/drift-check.sh
fi

# ---- kernel build checks (build.sh, tools/kext-check, Info.plist) ----
step "kext-check: bad objects rejected (SSE, x87, arm64e FP/SIMD, undeclared import, wrong cpu, panics), Info.plist rules"
cargo test -p kext-check
step "kextld: each relocation kind, each refusal, the file's shape and debug map; the Rust kernel library linked and every relocation checked"
# tests/project_inputs.rs builds target/kernel/x86_64-apple-macos-kernel/release/
# librustkext_monitor_kext.a with scripts/kernel-lib.sh when build.sh has not; the shim is linked
# too only with KERNEL_HEADERS.
[ -n "${KERNEL_HEADERS:-}" ] || echo "    (KERNEL_HEADERS not set: the shim + kmod glue link test is skipped, the Rust library link test runs)"
cargo test -p kextld
cargo clippy -q -p kextld --all-targets -- -D warnings
if [ "$(uname -s)" = Linux ]; then
    step "build.sh's macOS path with stand-ins for xcrun/codesign/lipo/kmutil/rustup (each command recorded and checked)"
    tests/macos-path/run.sh
fi
step "./build.sh install/load/unload/uninstall/status with stand-ins for the Mac's tools, on 10.15 and 15"
tests/manage/run.sh

step "kxld-check: version rule, KPI lists, vtable dump + probe (clang-19), kernel model, verifier, strip, script options"
# The kxld link itself needs an xnu tree and Kernel.framework headers (a developer check, README);
# this is the check's own logic, on inputs of our own.
cargo test -p kxld-check

# ---- xnu-sim: scenarios, then under AddressSanitizer ----
step "xnu-sim: scenarios (the monitor: the one shim with its names and its Rust, on the kernel model)"
cargo test -p xnu-sim
step "xnu-sim: the same scenarios under AddressSanitizer (C++ and Rust instrumented, leaks checked)"
# -Zsanitizer is unstable: RUSTC_BOOTSTRAP lets the stable toolchain take it; rustup ships the
# runtime. Its own target dir, because every crate is rebuilt instrumented.
RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1" \
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/xnu-sim-asan" \
    cargo test -p xnu-sim --target "$(rustc -vV | sed -n 's/^host: //p')"
if [ "$(uname -s)" = Linux ]; then
    step "xnu-sim: the same scenarios under ThreadSanitizer (std rebuilt instrumented)"
    # TSan needs std instrumented too: rustup's toolchains cannot rebuild it (no rust-src), so
    # Debian's cargo/rustc rebuild it from rust-web-src, and clang-19's TSan runtime is linked.
    tsan_runtime=/usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.tsan-x86_64.a
    if [ ! -f "$tsan_runtime" ]; then
        echo "missing $tsan_runtime: apt-get install -y libclang-rt-19-dev" >&2
        exit 1
    fi
    RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc TSAN_OPTIONS="halt_on_error=1" \
        RUSTFLAGS="-Zsanitizer=thread -Zexternal-clangrt -Clinker=clang++-19 -Clink-arg=-fsanitize=thread" \
        CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/xnu-sim-tsan" \
        /usr/bin/cargo test -Zbuild-std -p xnu-sim --lib --tests --target "$(/usr/bin/rustc -vV | sed -n 's/^host: //p')"
fi

# ---- userclient-test: harness on the simulator; macOS backend type-check ----
step "userclient-test: every scenario on xnu-sim, failing-backend, CLI and JSON report tests; the IOKitLib stand-in (iokitlib-sim)"
cargo test -p userclient-test -p iokitlib-sim
step "userclient-test: the IOKit.framework backend, unchanged, on the IOKitLib stand-in and a simulated kernel in its own process"
# As root (CI): 9 passed; without root file-activity, unload-refused and autounload are skipped.
# Any FAIL exits non-zero. The binary is the one the step above built.
cargo run -q -p userclient-test -- --backend iokit scenario all
if [ "$(uname -s)" = Linux ]; then
    # macOS compiles the iokit backend in the step above; here it is type-checked for the target.
    step "userclient-test: type-check of the IOKit.framework backend for x86_64-apple-darwin"
    env -u KERNEL_HEADERS CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/darwin-check" \
        RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo check -q -p userclient-test \
        --no-default-features -Zbuild-std=std,panic_abort --target x86_64-apple-darwin
fi

# ---- the scaffold: a new kext, built and tested as its author would ----
step "scaffold: rustkext new com.example.OpenWatch into a temporary directory; its build.sh (kernel objects for x86_64 and arm64e, checked), its tests on xnu-sim (generated conformance and adversarial suite), clippy, its CLI"
# Shares the kernel and host target directories: the framework's crates and the standard library
# are built once (the scaffold copies Cargo.lock, so the versions match).
scaffold=$(mktemp -d "${TMPDIR:-/tmp}/rustkext-scaffold.XXXXXX")
trap 'rm -rf "$scaffold"' EXIT
scripts/rustkext.sh new com.example.OpenWatch "$scaffold/openwatch"
"$scaffold/openwatch/build.sh"
(
    cd "$scaffold/openwatch"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    cargo test -p openwatch-driver -p openwatch-api
    cargo test -p openwatch-kext
    cargo clippy -q --all-targets -- -D warnings
    cargo run -q -p openwatch-cli -- status
)

step "all test suites passed ($SECONDS s)"
