"""The HTTP server of buildkit-suite.py's cases with `[build] http = true` (ADD of URLs).

Serves the case's `http/` directory on 127.0.0.1 (a free port): GET and HEAD of `/NAME` answer
`http/NAME`, of `/` answer `http/__root__`; every answer has an ETag (the content's sha256) and
the fixed Last-Modified below, so an expectation may name the mtime ADD gives the file.
"""

import hashlib
import http.server
import threading
from pathlib import Path

# Last-Modified of every answer: Tue, 02 Dec 2025 12:00:00 GMT.
LAST_MODIFIED = "Tue, 02 Dec 2025 12:00:00 GMT"
LAST_MODIFIED_EPOCH = 1764676800


class Server:
    """A running server of one directory; `url` is its base, without a trailing slash."""

    def __init__(self, root: Path, last_modified: bool = True):
        handler = type("Handler", (FileHandler,), {"root": root, "last_modified": last_modified})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FileHandler(http.server.BaseHTTPRequestHandler):
    root: Path
    # False: no Last-Modified (BuildKit's test server sends one only when a test sets it, and it
    # outranks a tarball's newest mtime as SOURCE_DATE_EPOCH=context).
    last_modified: bool

    def do_GET(self):
        self.answer(body=True)

    def do_HEAD(self):
        self.answer(body=False)

    def answer(self, body: bool):
        name = self.path.split("?", 1)[0].lstrip("/") or "__root__"
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        if self.last_modified:
            self.send_header("Last-Modified", LAST_MODIFIED)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format, *args):
        pass  # the runner prints one line per case, not per request
