#!/bin/sh
# "Compiles" the app: checksums every source file into a manifest.
set -e
mkdir -p /app/dist
for f in /app/src/*.sh; do sha256sum "$f"; done > /app/dist/MANIFEST
wc -l /app/dist/MANIFEST
