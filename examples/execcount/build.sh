#!/usr/bin/env bash
# Builds ExecCount with the framework's build (../../build.sh): on Linux the kernel objects
# for x86_64 and arm64e, checked (tools/kext-check), and with KERNEL_HEADERS the x86_64 kext; on
# macOS the universal kext. Output: build/. On the Mac: sudo ./build.sh install|load|unload|
# uninstall|status (build/ExecCount.kext).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
framework=../..
case $framework in /*) ;; *) framework=$here/$framework ;; esac
case ${1:-} in
    "") exec "$framework/build.sh" "$here" ;;
    install | load | unload | uninstall | status) exec "$framework/build.sh" "$1" "${2:-$here/build/ExecCount.kext}" ;;
    *) exec "$framework/build.sh" "$@" ;;
esac
