# shellcheck shell=bash
# Shared by the stand-ins: append one line to the command log.
log() { printf '%s\n' "$*" >>"${STANDIN_LOG:?}"; }
fail() { printf 'stand-in %s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
