#!/bin/sh
set -e
cd "${HTTP_DIR:?set by the runner: the directory its http server serves}"
printf '\nFROM busybox AS build\nRUN echo -n fromgit > foo\nFROM scratch\nCOPY --from=build foo bar\n' > Dockerfile
git init -q --object-format=sha256
git config --local user.email test
git config --local user.name test
git add Dockerfile
git commit -q -m initial
git branch first
printf '\nCOPY --from=build foo bar2\n' >> Dockerfile
git add Dockerfile
git commit -q -m second
git update-server-info
