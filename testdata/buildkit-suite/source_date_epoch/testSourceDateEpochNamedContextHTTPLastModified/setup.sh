#!/bin/sh
set -e
python3 - <<'PYTHON_END'
import io, os, tarfile
path = os.path.join(os.environ['HTTP_DIR'], 'src.tar')
with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as tw:
    ti = tarfile.TarInfo('foo'); ti.mode = 0o600; ti.size = 3; ti.mtime = 1700004201
    tw.addfile(ti, io.BytesIO(b'bar'))
PYTHON_END
