#!/usr/bin/env bash
# The README's promises: it fits on a few screens (at most 150 lines), its "Adding a method" diff
# still applies to the code, and its quick start, run exactly as written, shows file-activity
# counts changing on the simulator.
set -euo pipefail
cd "$(dirname "$0")/../.."

lines=$(wc -l <README.md)
if [ "$lines" -gt 150 ]; then
    echo "FAIL: README.md has $lines lines (at most 150: reference material goes to docs/)" >&2
    exit 1
fi

# The first ```diff block: applies to the tree as it is (checked, not applied).
diff=$(mktemp)
out=$(mktemp)
trap 'rm -f "$diff" "$out"' EXIT
awk '/^```diff/ { inside = 1; next } inside && /^```/ { exit } inside' README.md >"$diff"
[ -s "$diff" ] || { echo "FAIL: README.md has no \`\`\`diff block" >&2; exit 1; }
git apply --check "$diff" || { echo "FAIL: the README's diff no longer applies" >&2; exit 1; }

# The quick start: the ```sh block after the quickstart marker, every line run as written.
awk '/<!-- quickstart/ { marked = 1; next } marked && /^```sh/ { inside = 1; next } inside && /^```/ { exit } inside' \
    README.md >"$out.commands"
[ -s "$out.commands" ] || { echo "FAIL: README.md has no quick-start block" >&2; exit 1; }
echo "running the README's quick start:"
sed 's/^/    $ /' "$out.commands"
bash -euo pipefail "$out.commands" >"$out" 2>&1 || {
    cat "$out" >&2
    echo "FAIL: the quick start failed" >&2
    exit 1
}
# The demo prints "COUNTER: BEFORE -> AFTER" for what it changed; at least one must grow.
if ! awk '$2 ~ /^[0-9]+$/ && $3 == "->" && $4 ~ /^[0-9]+$/ && $4 > $2 { found = 1 } END { exit !found }' "$out"; then
    tail -40 "$out" >&2
    echo "FAIL: the quick start's output shows no counter increasing (a line 'NAME: BEFORE -> AFTER')" >&2
    exit 1
fi
rm -f "$out.commands"
echo "readme: $lines lines; the diff applies; the quick start shows counts increasing"
