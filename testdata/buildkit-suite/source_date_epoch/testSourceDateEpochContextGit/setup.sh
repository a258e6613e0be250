#!/bin/sh
set -e
cd "${HTTP_DIR:?set by the runner: the directory its http server serves}"
printf 'FROM scratch\nCOPY Dockerfile /\n' > Dockerfile
git init -q
git config --local user.email test@example.com
git config --local user.name test
git add Dockerfile
GIT_AUTHOR_DATE=2023-11-14T22:15:01Z GIT_COMMITTER_DATE=2023-11-14T22:15:01Z git commit -q -m msg
git update-server-info
