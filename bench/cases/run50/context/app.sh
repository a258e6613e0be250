#!/bin/sh
# Prints the layers it was built on.
ls /layers | wc -l
