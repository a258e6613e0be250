#!/bin/sh
# Library code compiled into the app.
greet() { echo "hello $1"; }
