"""Helpers shared by the tests that serve archives and datasets over a local HTTP server."""
import copy
import functools
import io
import socket
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from course_lib.datasets import load_manifest


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tar.gz in memory holding `members` (name -> bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    """A .zip in memory holding `members` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def unused_port() -> int:
    """A loopback port nothing listens on (for 'connection refused', i.e. offline)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (a free port) running in a daemon thread until `close()`."""

    def serve(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{path.lstrip('/')}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class StaticServer(LoopbackServer):
    """Serves a folder over HTTP on 127.0.0.1 and counts the requests."""

    def __init__(self, folder: Path):
        self.requests = 0
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.serve(functools.partial(Handler, directory=str(folder)))


def local_manifest(name: str, url_of) -> dict:
    """The real manifest of `name`, every file fetched from `url_of(file name)` instead."""
    spec = copy.deepcopy(load_manifest(name))
    for entry in spec["files"]:
        entry["url"], entry["mirrors"] = url_of(entry["name"]), []
    return spec
