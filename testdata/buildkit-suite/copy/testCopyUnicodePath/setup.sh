#!/bin/sh
# Made here: a non-ASCII file name in git breaks tools/land.sh (git quotes it in diff-tree).
set -e
printf foo > 'test-äöü.txt'
chmod 0644 'test-äöü.txt'
