#!/bin/sh
# Fills the context: src/ with 200 directories of 100 small text files (20,000 files) and
# assets/ with 6 incompressible 50 MB blobs (300 MB), like images or model files.
set -eu
ctx=$1
d=0
while [ $d -lt 200 ]; do
    mkdir -p "$ctx/src/mod$d"
    f=0
    while [ $f -lt 100 ]; do
        printf '// module %d file %d\nexport const v%d_%d = %d;\n' $d $f $d $f $((d * 100 + f)) \
            > "$ctx/src/mod$d/f$f.js"
        f=$((f + 1))
    done
    d=$((d + 1))
done
mkdir -p "$ctx/assets"
for i in 1 2 3 4 5 6; do
    head -c 52428800 /dev/urandom > "$ctx/assets/blob$i.bin"
done
