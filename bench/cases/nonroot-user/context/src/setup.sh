#!/bin/sh
# Runs as svc: prepares the app's writable state and proves who it is.
set -e
[ "$(id -u)" = 1001 ] || { echo "expected uid 1001, got $(id -u)" >&2; exit 1; }
mkdir -p "$HOME/app/state"
id > "$HOME/app/state/whoami"
