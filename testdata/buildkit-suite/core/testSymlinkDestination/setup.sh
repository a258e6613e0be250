#!/bin/sh
# Made here: git cannot hold it.
set -e
# t.tar: one entry, the symlink "symlink" -> "../tmp/symlink-target" (mode 0755)
python3 - <<'EOF'
import tarfile
with tarfile.open("t.tar", "w", format=tarfile.PAX_FORMAT) as tar:
    info = tarfile.TarInfo("symlink")
    info.type = tarfile.SYMTYPE
    info.linkname = "../tmp/symlink-target"
    info.mode = 0o755
    tar.addfile(info)
EOF
