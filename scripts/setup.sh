#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently. Called by build.sh and test.sh.
# Debian/Ubuntu: installs missing packages with apt when run as root, otherwise prints the command.
set -euo pipefail

# Pinned major versions: the project is tested with these (see docs/toolchain.md).
APT_PACKAGES=(rustc-web rust-web-src cargo-web clang-19 lld-19 llvm-19 libclang-19-dev libclang-rt-19-dev)

log() { printf '==> %s\n' "$*" >&2; }

setup_linux() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        log "missing packages: ${missing[*]}"
        log "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

case "$(uname -s)" in
    Linux) setup_linux ;;
    Darwin) : ;; # Xcode and rustup are the user's; build.sh says what is missing.
esac

# libclang for bindgen (macos-kext-sys) on Linux.
if [ "$(uname -s)" = Linux ] && [ -z "${LIBCLANG_PATH:-}" ]; then
    echo "export LIBCLANG_PATH=/usr/lib/llvm-19/lib"
fi
