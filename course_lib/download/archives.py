"""Archives that cannot escape their folder, extracted into folders that are complete or absent, never half-written."""
from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import json
import lzma
import os
import re
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

from ..files import write_json
from .transfer import DISK_RESERVE, free_bytes

COMPLETE_MARKER = ".complete.json"
# An archive's members may add up to at most this many times its own size (a zip bomb expands
# thousands of times; photographs barely compress, text ground truth about tenfold) ...
MAX_EXPANSION = 20
MIN_EXTRACTION_ALLOWANCE = 64 << 20  # ... or this much, for small archives of text


class ArchiveError(ValueError):
    """An archive that cannot be read (truncated, not an archive at all)."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be written outside the target folder, or is a device file."""


class ArchiveTooLarge(UnsafeArchiveError):
    """An archive that would expand far beyond its size, or beyond the free disk space."""


def completed(target: str | Path) -> dict | None:
    """The completion record of a folder made by `staged_folder`/`extract`, or None if incomplete."""
    marker = Path(target) / COMPLETE_MARKER
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text())
    except json.JSONDecodeError:
        return None


@contextlib.contextmanager
def staged_folder(target: str | Path, record: dict | None = None, replace: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; when the block succeeds it becomes `target`, marked complete.

    The staging folder sits next to `target` and is renamed in one step, so a crash
    or an error leaves either the old state or a complete folder, never a half one.
    replace: allow replacing a previous *complete* `target` (one this module made).
    A `target` without the completion marker was not made here and is never touched.
    """
    target = Path(target)
    if target.exists() and not (replace and completed(target) is not None):
        if completed(target) is not None:
            raise FileExistsError(f"{target} is already complete")
        raise FileExistsError(f"{target} exists but was not made by course_lib (no {COMPLETE_MARKER}); "
                              f"move it away and run again")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging")
    if staging.exists():  # left over by an interrupted run of this same function
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        yield staging
        completed_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        write_json(staging / COMPLETE_MARKER, {**(record or {}), "completed": completed_at}, sort_keys=True)
        if target.exists():
            retired = target.with_name(f".{target.name}.retired")
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# Raised by tarfile's own "data" filter (Python >= 3.11.4), which runs after our checks.
_TAR_FILTER_ERRORS = (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()
_TAR_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz")


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def _member_problem(name: str, root: str) -> str | None:
    """Why writing archive member `name` under `root` would be unsafe, or None."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "path climbs out with '..'"
    if not _inside(root, os.path.normpath(os.path.join(root, name))):
        return "path outside the target folder"
    return None


def _check_expansion(total: int, archive: Path, staging: Path) -> None:
    """Refuse an archive whose members add up to far more than its own size (a zip bomb), or to more
    than the disk can spare; checked before anything is written."""
    allowance = max(MAX_EXPANSION * archive.stat().st_size, MIN_EXTRACTION_ALLOWANCE)
    if total > allowance:
        raise ArchiveTooLarge(f"{archive.name}: refusing to extract {total} bytes from a {archive.stat().st_size}-byte "
                              f"archive (more than {MAX_EXPANSION} times its size: a zip bomb?)")
    free = free_bytes(staging)
    if total > free:
        raise ArchiveTooLarge(f"{archive.name}: extracting needs {total >> 20} MiB, but only {max(free, 0) >> 20} MiB "
                              f"can be spared in {staging.parent} ({DISK_RESERVE >> 20} MiB stay free): "
                              f"free some space and run again")


def _check_tar(tar: tarfile.TarFile, root: str, archive_name: str) -> None:
    for member in tar.getmembers():
        problem = _member_problem(member.name, root)
        if problem is None and (member.issym() or member.islnk()):
            link = member.linkname
            base = os.path.dirname(os.path.join(root, member.name)) if member.issym() else root
            if link.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", link):
                problem = f"link to absolute path {link!r}"
            elif not _inside(root, os.path.normpath(os.path.join(base, link))):
                problem = f"link to {link!r} points outside the target folder"
        if problem is None and (member.ischr() or member.isblk() or member.isfifo()):
            problem = "device or pipe"
        if problem:
            raise UnsafeArchiveError(f"{archive_name}: refusing to extract {member.name!r}: {problem}")


def _check_zip(archive: zipfile.ZipFile, root: str, archive_name: str) -> None:
    for info in archive.infolist():
        problem = _member_problem(info.filename, root)
        if problem is None and (info.external_attr >> 16) & 0o170000 == 0o120000:
            problem = "symbolic link"
        if problem:
            raise UnsafeArchiveError(f"{archive_name}: refusing to extract {info.filename!r}: {problem}")


def extract(archive: str | Path, target: str | Path, *, prepare: Callable[[Path], None] | None = None,
            record: dict | None = None, replace: bool = False) -> Path:
    """Unpack a tar (gz/bz2/xz) or zip archive into `target`, safely and all-or-nothing.

    Every member is checked first: absolute paths, '..', links pointing outside the
    target and device files are refused with UnsafeArchiveError (nothing is written).
    Extraction happens in a staging folder; `prepare(staging)` may then fix up the
    files (e.g. rotate images) before the folder is marked complete and renamed to
    `target`. `completed(target)` tells later whether it is whole.
    """
    archive, target = Path(archive), Path(target)
    lower = archive.name.lower()
    with staged_folder(target, {"archive": archive.name, **(record or {})}, replace=replace) as staging:
        root = os.path.realpath(staging)
        try:
            if lower.endswith(".zip") or (not lower.endswith(_TAR_SUFFIXES) and zipfile.is_zipfile(archive)):
                with zipfile.ZipFile(archive) as zf:
                    _check_zip(zf, root, archive.name)
                    # zipfile stops each member at its declared size, so the declared sizes bound the total.
                    _check_expansion(sum(info.file_size for info in zf.infolist()), archive, staging)
                    zf.extractall(staging)
            else:
                with tarfile.open(archive) as tar:
                    _check_tar(tar, root, archive.name)
                    _check_expansion(sum(m.size for m in tar.getmembers() if m.isfile()), archive, staging)
                    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second, independent check
                        tar.extractall(staging, filter="data")
                    else:
                        tar.extractall(staging)
        except _TAR_FILTER_ERRORS as err:
            raise UnsafeArchiveError(f"{archive.name}: refusing to extract: {err}") from None
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile,
                lzma.LZMAError) as err:
            reason = " ".join(str(err).split()) or type(err).__name__  # tarfile's ReadError spans lines
            raise ArchiveError(f"{archive}: not a readable archive ({type(err).__name__}: {reason})") from None
        if prepare is not None:
            prepare(staging)
    return target
