#!/bin/sh
set -e
python3 - <<'PYTHON_END'
import io, os, tarfile
path = os.path.join(os.environ['HTTP_DIR'], 'context.tar')
with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as tw:
    ti = tarfile.TarInfo('Dockerfile'); ti.mode = 0o600; ti.size = 24; ti.mtime = 1699996602
    tw.addfile(ti, io.BytesIO(b'FROM scratch\nCOPY foo /\n'))
    ti = tarfile.TarInfo('foo'); ti.mode = 0o600; ti.size = 3; ti.mtime = 1700000202
    tw.addfile(ti, io.BytesIO(b'bar'))
PYTHON_END
