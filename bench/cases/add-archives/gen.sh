#!/bin/sh
# Makes the archives: vendor.tar.gz (2,000 small text files), assets.tar.xz (8 MB of
# semi-compressible data), config.tar (a few files), plus the app's sources.
set -eu
ctx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in $(seq 1 20); do
    mkdir -p "$tmp/vendor/pkg$p"
    for f in $(seq 1 100); do
        printf 'package pkg%d\n// file %d\nfunc F%d() int { return %d }\n' $p $f $f $((p * f)) \
            > "$tmp/vendor/pkg$p/f$f.go"
    done
done
tar -C "$tmp/vendor" -czf "$ctx/vendor.tar.gz" .
mkdir -p "$tmp/assets"
for i in 1 2 3 4; do
    head -c 1048576 /dev/urandom | od -An -tx1 > "$tmp/assets/data$i.txt"
done
tar -C "$tmp/assets" -cJf "$ctx/assets.tar.xz" .
mkdir -p "$tmp/config"
printf 'listen = 8080\nworkers = 4\n' > "$tmp/config/app.conf"
printf 'level = info\n' > "$tmp/config/log.conf"
tar -C "$tmp/config" -cf "$ctx/config.tar" .
echo "2.4.1" > "$ctx/VERSION"
mkdir -p "$ctx/src"
printf '#!/bin/sh\n# Starts the app; --check only validates the install.\n[ "$1" = --check ] && test -f /opt/VERSION && echo ok\n' > "$ctx/src/start.sh"
