#!/usr/bin/env bash
# Every relative link in the repository's Markdown, and every docs/*.md a source file cites,
# names a file that exists; a link with #anchor names a heading that file has. Nothing cites the
# workplace notes (../shared), which are not part of the repository: what the code relies on is in
# docs/ (docs/audit.md is the audit as written, and quotes the names it used).
set -euo pipefail
cd "$(dirname "$0")/../.."

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# GitHub's anchor for a heading: lower case, punctuation other than - and _ dropped, spaces to -.
anchors_of() {
    sed -n 's/^#\{1,6\} \(.*\)$/\1/p' "$1" |
        tr '[:upper:]' '[:lower:]' | sed -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g'
}

has_anchor() { anchors_of "$1" | grep -qx -- "$2"; }

while IFS= read -r md; do
    dir=$(dirname "$md")
    # Inline links [text](target), outside fenced code blocks.
    while IFS= read -r target; do
        case "$target" in
        http://* | https://* | mailto:*) continue ;;
        esac
        path=${target%%#*}
        anchor=""
        [ "$path" != "$target" ] && anchor=${target#*#}
        if [ -z "$path" ]; then
            file=$md
        else
            file=$dir/$path
        fi
        if [ ! -e "$file" ]; then
            fail "$md: link to $target: no $file"
            continue
        fi
        if [ -n "$anchor" ] && [ -f "$file" ] && ! has_anchor "$file" "$anchor"; then
            fail "$md: link to $target: $file has no heading #$anchor"
        fi
    done < <(awk '/^```/ { fenced = !fenced; next } !fenced' "$md" |
        grep -o '\](\([^) ]*\))' | sed -e 's/^](//' -e 's/)$//')
done < <(git ls-files --cached --others --exclude-standard '*.md')

# Citations in code and scripts: a docs/ file named anywhere must exist.
while IFS= read -r hit; do
    file=${hit%%:*}
    doc=${hit#*:}
    [ -e "$doc" ] || fail "$file cites $doc, which does not exist"
done < <(git grep --untracked -o -E 'docs/[A-Za-z0-9_-]+\.md' | sort -u)

# The workplace notes are not part of the repository; what the code relies on was copied to docs/.
if git grep --untracked -n -E '\.\./shared/|(KERNEL-FACTS|TOOLCHAIN|DESIGN|AUDIT|FRAMEWORK-STUDY)\.md' -- . ':!tests/docs/links.sh' ':!docs/audit.md'; then
    fail "the lines above cite notes outside the repository; cite docs/ instead"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures broken link(s) or citation(s)" >&2
    exit 1
fi
echo "links: every relative link and docs/ citation resolves"
