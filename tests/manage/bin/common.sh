# shellcheck shell=bash
# Shared by the stand-ins: append one line to the command log.
log() { printf '%s\n' "$*" >>"${STANDIN_LOG:?}"; }
