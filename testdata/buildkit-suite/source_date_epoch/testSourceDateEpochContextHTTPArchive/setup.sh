#!/bin/sh
set -e
python3 - <<'PYTHON_END'
import io, os, tarfile
path = os.path.join(os.environ['HTTP_DIR'], 'context.tar')
with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as tw:
    ti = tarfile.TarInfo('Dockerfile'); ti.mode = 0o600; ti.size = 76; ti.mtime = 1699996702
    tw.addfile(ti, io.BytesIO(b'FROM busybox\nARG SOURCE_DATE_EPOCH\nRUN echo -n "$SOURCE_DATE_EPOCH" >/epoch\n'))
    ti = tarfile.TarInfo('foo'); ti.mode = 0o600; ti.size = 3; ti.mtime = 1700000302
    tw.addfile(ti, io.BytesIO(b'bar'))
PYTHON_END
