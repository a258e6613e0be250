#!/bin/sh
# Serves the state directory.
cat "$HOME/app/state/whoami"
