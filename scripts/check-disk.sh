#!/usr/bin/env bash
# Fails, naming the filesystem, when the test suite would run out of disk: a full disk showed up
# as the linker killed by SIGBUS half-way through the build. Measured on a fresh clone (stop 31):
# target/ grows to 5.5 GiB and the whole run peaks 6.4 GiB above where it started, up to 1 GiB of
# it under the temporary directory (the tests' stores, images and registries).
set -euo pipefail
cd "$(dirname "$0")/.."

gib=1048576 # KiB, as df and du count
free_kib() { df -Pk "$1" | awk 'NR == 2 { print $4 }'; }
device() { df -Pk "$1" | awk 'NR == 2 { print $1 }'; }
tmp="${TMPDIR:-/tmp}"

# What the build still has to write: a run over an already built target/ needs less.
built=0
[ -d target ] && built=$(du -sk target | cut -f1)
need=$((8 * gib - built))
[ "$need" -ge $((2 * gib)) ] || need=$((2 * gib))
need_tmp=$((2 * gib))
if [ "$(device .)" = "$(device "$tmp")" ]; then
  need=$((need + need_tmp))
  need_tmp=0
fi

short=0
check() {
  local have
  have=$(free_kib "$1")
  if [ "$have" -lt "$2" ]; then
    echo "not enough disk for the test suite: $1's filesystem has $((have / 1024)) MiB free;" \
      "the build and the tests' stores need about $(($2 / 1024)) MiB there" >&2
    short=1
  fi
}
check "$PWD" "$need"
check "$tmp" "$need_tmp"
exit "$short"
