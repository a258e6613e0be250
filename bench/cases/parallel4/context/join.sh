#!/bin/sh
# Joins the parts.
cat /parts/*.txt > /joined.txt
