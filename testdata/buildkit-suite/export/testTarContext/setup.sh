#!/bin/sh
set -e
cd "${HTTP_DIR:?set by the runner: the directory its http server serves}"
mkdir tarball
printf '\nFROM scratch\nCOPY foo /' > tarball/Dockerfile
printf contents > tarball/foo
chmod 0644 tarball/Dockerfile tarball/foo
tar -C tarball -cf context.tar Dockerfile foo
rm -r tarball
