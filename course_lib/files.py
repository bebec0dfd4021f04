"""Writing files so that a crash never leaves half a file, and hashing them.

Every file the kit writes (results JSON, cached descriptors, checksum records, build
records) goes through `atomic_write`: the bytes go to a temporary file beside the target,
which then replaces it in one step, and no temporary file survives a failure.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

CHUNK_SIZE = 1 << 20


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, computed once per process for as long as the file's status (size, times,
    inode, device) stays the same: a cache key that follows the image's content, not its name or date."""
    st = os.stat(path)
    return _hash_with_status(os.fspath(path), (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev))


@functools.lru_cache(maxsize=None)
def _hash_with_status(path: str, status: tuple) -> str:
    return sha256_of(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open `path` for writing bytes so that it changes all at once or not at all.

    A symlink is followed (its target is written, the link stays). Something that exists
    and is not a regular file (/dev/null, a FIFO, a terminal) is written directly, never
    replaced by a file. The new file gets the permissions the user's umask gives new files.
    """
    target = Path(path).expanduser()
    if target.is_symlink():
        try:
            target = target.resolve()
        except (RuntimeError, OSError):  # Python raises RuntimeError on a symlink loop before 3.13
            raise OSError(errno.ELOOP, f"{path}: symbolic link loop; not writing through it") from None
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        if target.is_dir():
            raise IsADirectoryError(f"{path}: is a folder, not a file")
        with open(target, "wb") as f:
            yield f
        return
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def json_safe(value):
    """JSON has no NaN or infinity: they are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: str | os.PathLike, payload, sort_keys: bool = False) -> None:
    """Write `payload` as indented JSON, atomically (see `atomic_write`); NaN becomes null."""
    text = json.dumps(json_safe(payload), indent=2, sort_keys=sort_keys, allow_nan=False) + "\n"
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))


def save_figure(figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Write a matplotlib figure atomically, in the format its file name ends with (.png, .pdf, .svg)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix.lstrip(".").lower() or "png", dpi=dpi, bbox_inches="tight")
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write numpy arrays as one .npz file, atomically; the folder is created if needed."""
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()  # zip needs to seek back, which a pipe or /dev/null cannot
    np.savez(buffer, **arrays)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())

