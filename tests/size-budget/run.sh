#!/usr/bin/env bash
# build.sh holds each architecture's linked Rust __text to the [size-budget] of the kext's
# rustkext.toml: with budgets equal to the measured sizes the build passes; one byte under the
# measured size, for x86_64 and then for arm64e, it is refused (kext-check's finding, build.sh's
# error, exit 1). The build output is the Linux path's (KERNEL_HEADERS unset: the x86_64
# measurement is the Rust archive rooted at its C ABI exports, as for arm64e).
# Usage: tests/size-budget/run.sh KEXT_DIR   (a kext built once already: test.sh's scaffold suite
# passes the scaffolded one; its rustkext.toml is restored afterwards)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KEXT=$(cd "$1" && pwd)
TOML=$KEXT/rustkext.toml
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rustkext-size-budget.XXXXXX")
cp "$TOML" "$WORK/rustkext.toml"
trap 'cp "$WORK/rustkext.toml" "$TOML"; rm -rf "$WORK"' EXIT
fail() { printf 'size-budget test: FAIL: %s\n' "$*" >&2; exit 1; }

grep -q '^\[size-budget\]' "$TOML" && fail "$TOML has a [size-budget] already (the test writes its own)"
command -v ld64.lld-19 >/dev/null || fail "no ld64.lld-19 (scripts/setup.sh installs lld-19)"

# build NAME: build.sh on the kext; exit status in $code, stdout and stderr in $WORK/NAME.out.
build() {
    code=0
    env -u KERNEL_HEADERS -u XNU_EXPORTS -u XNU_SOURCE "$ROOT/build.sh" "$KEXT" >"$WORK/$1.out" 2>&1 || code=$?
}
# budget X86_64 ARM64E: the kext's rustkext.toml with these budgets.
budget() {
    cp "$WORK/rustkext.toml" "$TOML"
    printf '\n[size-budget]\nx86_64 = %s\narm64e = %s\n' "$1" "$2" >>"$TOML"
}
# measured NAME ARCH: the linked Rust __text bytes build.sh reported for ARCH.
measured() {
    sed -n "s/^kext-check: $2: linked Rust __text \([0-9]*\) bytes.*/\1/p" "$WORK/$1.out"
}

build unbudgeted
[ "$code" = 0 ] || { cat "$WORK/unbudgeted.out" >&2; fail "the kext does not build without a budget"; }
x86=$(measured unbudgeted x86_64)
arm=$(measured unbudgeted arm64e)
[ -n "$x86" ] && [ -n "$arm" ] || { cat "$WORK/unbudgeted.out" >&2; fail "no linked Rust __text measured for both architectures"; }
echo "size-budget test: measured x86_64 $x86 bytes, arm64e $arm bytes"

budget "$x86" "$arm"
build exact
[ "$code" = 0 ] || { cat "$WORK/exact.out" >&2; fail "refused with budgets equal to the measured sizes"; }
for arch in x86_64 arm64e; do
    bytes=$([ $arch = x86_64 ] && echo "$x86" || echo "$arm")
    grep -qx "kext-check: $arch: linked Rust __text $bytes bytes ([0-9]* symbols), budget $bytes" "$WORK/exact.out" ||
        { cat "$WORK/exact.out" >&2; fail "$arch: the budget is not reported with the measurement"; }
done

for arch in x86_64 arm64e; do
    if [ $arch = x86_64 ]; then
        bytes=$x86
        budget $((x86 - 1)) "$arm"
    else
        bytes=$arm
        budget "$x86" $((arm - 1))
    fi
    build "over-$arch"
    out=$WORK/over-$arch.out
    [ "$code" = 1 ] || { cat "$out" >&2; fail "$arch one byte over its budget: build.sh exited $code, expected 1"; }
    grep -qF "$arch: linked Rust __text is $bytes bytes, over the budget of $((bytes - 1))" "$out" ||
        { cat "$out" >&2; fail "$arch: no over-budget finding from kext-check"; }
    grep -qF "build.sh: error: the $arch Rust code is over its budget" "$out" ||
        { cat "$out" >&2; fail "$arch: build.sh did not name the over-budget architecture"; }
    grep -q '^==> done' "$out" && { cat "$out" >&2; fail "$arch: build.sh went on after the refusal"; }
done
echo "size-budget test: budgets enforced for x86_64 and arm64e (equal passes, one byte over is refused)"
