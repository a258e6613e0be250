#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks format and lints, runs every test.
# Tests that need root or a kernel feature fail (never skip) when it is missing.
# Arguments go to the test binaries, e.g. `scripts/test.sh --test-threads=8`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: sandbox and build tests need namespaces and overlayfs" >&2; exit 1; }
scripts/install-deps.sh
scripts/check-disk.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# A log of its own per run: concurrent runs never share one.
log="$(mktemp --tmpdir rbuild-test.XXXXXX.log)"
echo "log: $log"
cargo test --workspace --locked --no-fail-fast -- "$@" 2>&1 | tee "$log"
