"""Helpers shared by the tests that serve archives over a local HTTP server."""
import io
import socket
import tarfile


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tar.gz in memory holding `members` (name -> bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unused_port() -> int:
    """A loopback port nothing listens on (for 'connection refused', i.e. offline)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
