#!/usr/bin/env bash
# The `rustkext` command (framework/build: identity, plist, kmod-glue, shim-defines, new), built
# with the host's cargo into target/ on first use, then run with the arguments given.
# Usage: scripts/rustkext.sh COMMAND [ARGS...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARGO_TARGET_DIR="$ROOT/target" cargo build -q --manifest-path "$ROOT/Cargo.toml" -p rustkext-build --bin rustkext >&2
exec "$ROOT/target/debug/rustkext" "$@"
