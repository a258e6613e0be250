#!/bin/sh
# Made here: git cannot hold it.
set -e
chmod 0700 myscript.sh
