#!/bin/sh
# The test suite: runs the app once.
"$1/app" | grep -q "app build"
