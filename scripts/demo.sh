#!/usr/bin/env bash
# The main job on a fresh, offline Debian machine: install what is needed, build rbuild,
# import a busybox base, build examples/hello (RUN steps in the sandbox), show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: RUN steps need namespaces and overlayfs" >&2; exit 1; }
scripts/install-deps.sh
cargo build --release --locked --bin rbuild --example busybox-tarball -p rbuild -p rbuild-testkit
export RBUILD_ROOT="${RBUILD_ROOT:-/var/lib/rbuild}"
rbuild=target/release/rbuild
tarball="$(mktemp -d)/busybox-rootfs.tar"
target/release/examples/busybox-tarball "$tarball"
echo "== import the busybox base into $RBUILD_ROOT"
$rbuild import "$tarball" busybox:latest
echo "== build examples/hello"
$rbuild build --progress plain -t hello:latest examples/hello
echo "== images"
$rbuild images
echo "== inspect hello:latest"
$rbuild inspect hello:latest
