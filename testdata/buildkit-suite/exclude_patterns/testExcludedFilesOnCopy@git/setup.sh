#!/bin/sh
set -e
cd "${HTTP_DIR:?set by the runner: the directory its http server serves}"
mkdir -p dir1 dir2 dir3 dir4
printf %s 2 > dir1/file-101.png
printf %s 3 > dir1/file-102.txt
printf %s 4 > dir1/file-103.jpeg
printf %s 6 > dir2/file-201.pdf
printf %s 7 > dir2/file-202.jpeg
printf %s 8 > dir2/file-203.png
printf %s 9 > dir3/file-301.mp3
printf %s 10 > dir3/file-302.mpeg
printf %s 11 > dir4/file-401.txt
ln -s file-401.txt dir4/file-402.txt
ln -s file-404.txt dir4/file-403.txt
git init -q
git config --local user.email test
git config --local user.name test
git add *
git commit -q -m 0.1
git tag 0.1
git update-server-info
