#!/bin/sh
set -e
cd "${HTTP_DIR:?set by the runner: the directory its http server serves}"
git init -q
git config --local user.email test
git config --local user.name test
# Fixed dates: v0.0.2 is then the commit the second Dockerfile names as --checksum.
export GIT_AUTHOR_DATE=2023-11-14T22:13:20Z GIT_COMMITTER_DATE=2023-11-14T22:13:20Z
for tag in v0.0.1 v0.0.2; do
  echo "foo of $tag" >foo
  git add foo
  git commit -q -m $tag
  git tag $tag
done
git update-server-info
[ "$(git rev-parse v0.0.2)" = 02f628e747dfd825a156c472ab748a4158242fad ] || { echo "v0.0.2 is $(git rev-parse v0.0.2)" >&2; exit 1; }
