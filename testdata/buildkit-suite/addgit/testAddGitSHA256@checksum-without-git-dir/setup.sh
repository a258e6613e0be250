#!/bin/sh
set -e
cd "${HTTP_DIR:?set by the runner: the directory its http server serves}"
git init -q --object-format=sha256
git config --local user.email test
git config --local user.name test
# Fixed dates: the commit hashes are then the ones the Dockerfile names as --checksum.
export GIT_AUTHOR_DATE=2023-11-14T22:13:20Z GIT_COMMITTER_DATE=2023-11-14T22:13:20Z
for tag in v0.0.1 v0.0.2 v0.0.3; do
  echo "foo of $tag" >foo
  git add foo
  git commit -q -m $tag
  git tag $tag
done
git update-server-info
[ "$(git rev-parse v0.0.2)" = 6645d3cf654a1b74c1549a7950adbbb7c20f12e3fbdf28743a4585b3561ee586 ] || { echo "v0.0.2 is $(git rev-parse v0.0.2), not 6645d3cf654a1b74c1549a7950adbbb7c20f12e3fbdf28743a4585b3561ee586" >&2; exit 1; }
[ "$(git rev-parse v0.0.3)" = fd26794924a800067d86d16fec99acd754169ec71b8ba8fcfb643d2b04d298f7 ] || { echo "v0.0.3 is $(git rev-parse v0.0.3), not fd26794924a800067d86d16fec99acd754169ec71b8ba8fcfb643d2b04d298f7" >&2; exit 1; }
