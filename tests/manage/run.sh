#!/usr/bin/env bash
# Runs `./build.sh install|load|status|unload|uninstall` (scripts/manage.sh) on Linux with
# stand-ins for the Mac's tools (uname, id, sw_vers, PlistBuddy, chown, kmutil, kextutil,
# kextunload, kextstat, csrutil) that record every command, under a scratch root: on 10.15 and
# on 11+, with a refused unload, a blocked load, and the refusals (not root, not a Mac).
# Usage: tests/manage/run.sh   (test.sh runs it)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/tests/manage/bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rustkext-manage.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { printf 'manage test: FAIL: %s\n' "$*" >&2; exit 1; }

# A bundle as build.sh writes it.
mkdir -p "$WORK/RustKext.kext/Contents/MacOS"
cat >"$WORK/RustKext.kext/Contents/Info.plist" <<'PLIST'
<plist version="1.0"><dict>
	<key>CFBundleExecutable</key>
	<string>RustKext</string>
	<key>CFBundleIdentifier</key>
	<string>org.rustkext.RustKext</string>
</dict></plist>
PLIST
: >"$WORK/RustKext.kext/Contents/MacOS/RustKext"
chmod -R go+w "$WORK/RustKext.kext"

# manage MACOS ACTION [ENV...]: exit status in $code, output in $WORK/out, commands in $WORK/log.
manage() {
    local macos=$1 action=$2
    shift 2
    code=0
    # umask 000: with a careless umask the copy would be writable by others; install must fix it.
    (umask 000; env "$@" PATH="$BIN:$PATH" STANDIN_MACOS="$macos" STANDIN_LOG="$WORK/log" STANDIN_STATE="$WORK/state" \
        RUSTKEXT_MANAGE_ROOT="$WORK/root" RUSTKEXT_PLISTBUDDY="$BIN/PlistBuddy" \
        "$ROOT/build.sh" "$action" "$WORK/RustKext.kext") >"$WORK/out" 2>&1 || code=$?
}
expect_code() { [ "$code" = "$1" ] || { cat "$WORK/out" >&2; fail "$2: exit $code, expected $1"; }; }
expect_out() { grep -qF -- "$1" "$WORK/out" || { cat "$WORK/out" >&2; fail "$2: output lacks: $1"; }; }
expect_log() { grep -qxF -- "$1" "$WORK/log" || { cat "$WORK/log" >&2; fail "$2: no command: $1"; }; }

for macos in 10.15.7 15.5; do
    rm -rf "$WORK/root" "$WORK/log" "$WORK/state"
    : >"$WORK/log"
    case $macos in
        10.*) dest=$WORK/root/Library/RustKext/RustKext.kext load="kextutil -v $dest" unload="kextunload -b org.rustkext.RustKext" ;;
        *) dest=$WORK/root/Library/Extensions/RustKext.kext load="kmutil load -p $dest" unload="kmutil unload -b org.rustkext.RustKext" ;;
    esac
    manage "$macos" load
    expect_code 1 "$macos load before install"
    expect_out "sudo ./build.sh install" "$macos load before install"

    manage "$macos" install
    expect_code 0 "$macos install"
    [ -f "$dest/Contents/MacOS/RustKext" ] || fail "$macos install: nothing at $dest"
    expect_log "chown -R root:wheel $dest" "$macos install"
    [ "$(stat -c %A "$dest/Contents/MacOS/RustKext" | cut -c6,9)" = "--" ] || fail "$macos install: writable by group or others"
    expect_out "next: sudo ./build.sh load" "$macos install"

    echo blocked >"$WORK/state"
    manage "$macos" load
    expect_code 27 "$macos blocked load"
    expect_out "Privacy & Security" "$macos blocked load"
    : >"$WORK/state"
    manage "$macos" load
    expect_code 0 "$macos load"
    expect_log "$load" "$macos load"
    manage "$macos" load
    expect_code 0 "$macos load again"
    expect_out "is already loaded" "$macos load again"

    manage "$macos" status STANDIN_UID=501
    expect_code 0 "$macos status"
    expect_out "loaded: yes" "$macos status"
    expect_out "installed: $dest" "$macos status"

    echo "loaded clients" >"$WORK/state"
    manage "$macos" unload
    expect_code 1 "$macos refused unload"
    expect_out "0xe00002c7" "$macos refused unload"
    expect_out "unloads by itself after the last client" "$macos refused unload"
    echo loaded >"$WORK/state"
    manage "$macos" uninstall
    expect_code 0 "$macos uninstall"
    expect_log "$unload" "$macos uninstall"
    [ ! -e "$dest" ] || fail "$macos uninstall: $dest is still there"
    case $macos in 10.*) ;; *) expect_log "kmutil clear-staging" "$macos uninstall"; expect_out "restart" "$macos uninstall" ;; esac
done

manage 15.5 load STANDIN_UID=501
expect_code 1 "load as a user"
expect_out "sudo ./build.sh load" "load as a user"
manage 15.5 install STANDIN_OS=Linux
expect_code 1 "install on Linux"
expect_out "runs on the Mac" "install on Linux"
manage 10.14.6 status
expect_code 1 "status on 10.14"
expect_out "older than 10.15" "status on 10.14"
echo "manage test: install, load (blocked, then approved), status, refused unload, uninstall on 10.15 and 15; refusals as a user, on Linux, on 10.14"
