#!/bin/sh
# Helpers shared by the app's scripts.
log() { echo "[$(date +%H:%M:%S)] $*"; }
