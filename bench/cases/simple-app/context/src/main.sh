#!/bin/sh
# The app: answers one line per connection.
echo "hello from simple-app on port ${PORT:-8080}"
