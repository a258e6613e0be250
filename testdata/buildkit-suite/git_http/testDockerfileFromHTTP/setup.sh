#!/bin/sh
set -e
python3 - <<'PYTHON_END'
import io, os, tarfile
path = os.path.join(os.environ['HTTP_DIR'], 'myurl')
with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as tw:
    ti = tarfile.TarInfo('mydockerfile'); ti.mode = 0o600; ti.size = 26; ti.mtime = 0
    tw.addfile(ti, io.BytesIO(b'FROM scratch\nCOPY foo bar\n'))
    ti = tarfile.TarInfo('foo'); ti.mode = 0o600; ti.size = 12; ti.mtime = 0
    tw.addfile(ti, io.BytesIO(b'foo-contents'))
PYTHON_END
