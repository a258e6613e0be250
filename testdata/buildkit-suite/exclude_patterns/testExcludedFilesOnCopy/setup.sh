#!/bin/sh
set -e
ln -s file-404.txt dir4/file-403.txt
