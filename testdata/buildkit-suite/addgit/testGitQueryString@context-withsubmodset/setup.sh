#!/bin/sh
set -e
cd "${HTTP_DIR:?set by the runner: the directory its http server serves}"
# Fixed dates: the commit hashes are then the ones the expectations name.
export GIT_AUTHOR_DATE=2023-11-14T22:13:20Z GIT_COMMITTER_DATE=2023-11-14T22:13:20Z
mkdir submodrepo
(
  cd submodrepo
  git init -q -b master
  git config --local user.email test
  git config --local user.name test
  echo 123 >file
  git add file
  git commit -q -m initial
  git update-server-info
)
git init -q -b master
git config --local user.email test
git config --local user.name test
echo base >foo
printf '\nFROM scratch AS withgit\nCOPY .git/HEAD out\n\nFROM scratch as withsubmod\nCOPY submod/file out\n\nFROM scratch\nCOPY foo out\n' >Dockerfile
git -c protocol.file.allow=always submodule add -q "$PWD/submodrepo/.git" submod
# Relative to the repository's URL, so that the commits do not depend on the server's port.
git config -f .gitmodules submodule.submod.url ../submodrepo/.git
git add Dockerfile foo submod .gitmodules
git commit -q -m initial
git tag v0.0.1
git branch base
echo feature >foo
mkdir sub
echo subfeature >sub/foo
cp Dockerfile sub/
git add foo sub
git commit -q -m feature
git branch feature
git checkout -q -B master base
echo v0.0.2 >foo
git add foo
git commit -q -m v0.0.2
git tag v0.0.2
echo latest >foo
git add foo
git commit -q -m latest
git tag latest
git update-server-info
