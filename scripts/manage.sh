#!/usr/bin/env bash
# Install, load, unload, uninstall and show the kext on the Mac (or VM) it was built on or copied
# to: the VM guide's steps as commands (docs/vm-guide.md). Run through build.sh:
#   sudo ./build.sh install|load|unload|uninstall|status [BUNDLE]
# BUNDLE defaults to build/RustKext.kext. Each command says what it did and what comes next.
#
# Where the kext goes:
#   10.15:  /Library/RustKext/<Name>.kext, a root-owned directory kextd does not scan: the kext is
#           loaded only by `load` (kextutil), never at boot.
#   11+:    /Library/Extensions/<Name>.kext: kernelmanagerd builds the auxiliary kext collection
#           from there (kmutil(8)); `kmutil load` then needs the user's approval once and a
#           restart. The personality matches only a resource the kext publishes itself, so even
#           there it is not loaded at boot (docs/lifecycle.md, "The service starts only when the kext is loaded on purpose").
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }
next() { printf '    next: %s\n' "$*"; }
die() {
    printf 'build.sh %s: error: %s\n' "$ACTION" "$1" >&2
    [ $# -lt 2 ] || printf 'build.sh %s: fix: %s\n' "$ACTION" "$2" >&2
    exit 1
}

ACTION=${1:-}
BUNDLE=${2:-build/RustKext.kext}
# Tests run this on Linux with stand-ins, under a scratch root and with their own PlistBuddy.
ROOTDIR=${RUSTKEXT_MANAGE_ROOT:-}
PLISTBUDDY=${RUSTKEXT_PLISTBUDDY:-/usr/libexec/PlistBuddy}

[ "$(uname -s)" = Darwin ] || die "this command runs on the Mac or VM that loads the kext (this is $(uname -s))" \
    "copy build/RustKext.kext to the Mac, then: sudo ./build.sh $ACTION"
[ "$(id -u)" = 0 ] || [ "$ACTION" = status ] || die "loading and installing kexts needs root" "sudo ./build.sh $ACTION"

MACOS=$(sw_vers -productVersion)
case $MACOS in
    10.15 | 10.15.*) LEGACY=1 ;; # kextutil/kextunload/kextstat
    10.*) die "macOS $MACOS is older than 10.15, the oldest the kext supports (its KPI versions refuse it)" ;;
    *) LEGACY= ;; # 11 and later: kmutil
esac
legacy() { [ -n "$LEGACY" ]; }

plist_value() { "$PLISTBUDDY" -c "Print :$1" "$BUNDLE/Contents/Info.plist"; }
installed_bundle() { [ -d "$BUNDLE/Contents" ] || die "no kext bundle at $BUNDLE" "./build.sh (or pass the bundle's path)"; }

installed_bundle
NAME=$(plist_value CFBundleExecutable)
BUNDLE_ID=$(plist_value CFBundleIdentifier)
if legacy; then DEST=$ROOTDIR/Library/RustKext/$NAME.kext; else DEST=$ROOTDIR/Library/Extensions/$NAME.kext; fi

is_loaded() {
    if legacy; then
        kextstat -l -b "$BUNDLE_ID" 2>/dev/null | grep -q "$BUNDLE_ID"
    else
        kmutil showloaded --bundle-identifier "$BUNDLE_ID" 2>/dev/null | grep -q "$BUNDLE_ID"
    fi
}

install() {
    say "install $BUNDLE -> $DEST (root:wheel, not writable by others)"
    mkdir -p "$(dirname "$DEST")"
    rm -rf "$DEST"
    cp -R "$BUNDLE" "$DEST"
    chown -R root:wheel "$DEST"
    chmod -R go-w "$DEST"
    next "sudo ./build.sh load"
}

load() {
    [ -d "$DEST" ] || die "$DEST is not installed" "sudo ./build.sh install"
    if is_loaded; then
        say "$BUNDLE_ID is already loaded"
        next "sudo ./build.sh unload, or leave it: after a refused unload it goes by itself after the last client"
        return 0
    fi
    local code=0
    if legacy; then
        say "kextutil -v $DEST"
        kextutil -v "$DEST" || code=$?
    else
        say "kmutil load -p $DEST"
        kmutil load -p "$DEST" || code=$?
    fi
    if [ "$code" != 0 ]; then
        printf '    the load failed (exit %s). If macOS blocked the extension: approve it in System Settings → Privacy & Security\n' "$code"
        printf '    (System Preferences → Security & Privacy before 13), restart when asked (11+ rebuilds the auxiliary kext\n'
        printf '    collection), then run: sudo ./build.sh load. Unsigned kexts need SIP off (docs/vm-guide.md, step 1).\n'
        exit "$code"
    fi
    say "$BUNDLE_ID loaded"
    next "./build.sh status; sudo target/release/userclient-test scenario all (docs/vm-guide.md)"
}

unload() {
    if ! is_loaded; then
        say "$BUNDLE_ID is not loaded"
        return 0
    fi
    local code=0
    if legacy; then
        say "kextunload -b $BUNDLE_ID"
        kextunload -b "$BUNDLE_ID" || code=$?
    else
        say "kmutil unload -b $BUNDLE_ID"
        kmutil unload -b "$BUNDLE_ID" || code=$?
    fi
    if [ "$code" != 0 ]; then
        printf '    refused (exit %s): clients are open (the kernel logs 0xe00002c7, kIOReturnUnsupported). The request is\n' "$code"
        printf '    remembered: the kext unloads by itself after the last client closes. An administrator can still open a\n'
        printf '    client and cancel the request (CancelUnload, selector 6).\n'
        exit "$code"
    fi
    say "$BUNDLE_ID unloaded"
}

uninstall() {
    unload
    say "remove $DEST"
    rm -rf "$DEST"
    if ! legacy; then
        # The auxiliary kext collection is rebuilt without it; the old one stays in use until
        # the next restart (kmutil(8)).
        say "kmutil clear-staging"
        kmutil clear-staging || true
        next "restart, so that the auxiliary kext collection without $NAME is the one in use"
    fi
    say "uninstalled"
}

status() {
    printf 'macOS %s; bundle %s (%s)\n' "$MACOS" "$BUNDLE_ID" "$BUNDLE"
    printf 'installed: %s\n' "$([ -d "$DEST" ] && echo "$DEST" || echo no)"
    if is_loaded; then printf 'loaded: yes\n'; else printf 'loaded: no\n'; fi
    if command -v csrutil >/dev/null; then printf 'SIP: %s\n' "$(csrutil status 2>/dev/null | head -1)"; fi
}

case $ACTION in
    install | load | unload | uninstall | status) "$ACTION" ;;
    *) die "unknown command '$ACTION'" "./build.sh --help" ;;
esac
