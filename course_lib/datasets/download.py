"""Downloads that survive real networks, and archives that cannot escape their folder.

`download` streams to `<file>.part`, resumes with an HTTP Range request, verifies
sha256 (or the hash recorded at the first download when the publisher gives none),
and only then renames the file into place. `extract` unpacks tar/zip archives into
a staging folder, refusing members that would land outside it.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import http.client
import json
import logging
import lzma
import os
import re
import shutil
import socket
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

from tqdm.auto import tqdm

from ..files import sha256_of, write_json

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0   # seconds to open a connection: short, so that offline fails fast
READ_TIMEOUT = 60.0     # seconds without a single byte before a transfer counts as stalled
CHUNK_SIZE = 1 << 20
COMPLETE_MARKER = ".complete.json"


class DownloadError(RuntimeError):
    """A file could not be fetched; the message is one line saying what to do."""


class ChecksumMismatch(DownloadError):
    """The bytes received are not the bytes expected (sha256 or size)."""


class ArchiveError(ValueError):
    """An archive that cannot be read (truncated, not an archive at all)."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be written outside the target folder, or is a device file."""


class ArchiveTooLarge(UnsafeArchiveError):
    """An archive that would expand far beyond its size, or beyond the free disk space."""


# --------------------------------------------------------------------------------------------------
# Hashes and the trust-on-first-use record
# --------------------------------------------------------------------------------------------------

class TrustStore:
    """sha256 of files whose publisher gives no checksum, recorded at their first complete download.

    Trust on first use: the first download cannot be checked, but every later one
    (a re-download, a copy placed by hand) must match it, so a file that changes
    or arrives damaged is caught. The record is a small JSON file keyed by URL.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _entries(self) -> dict:
        if not os.path.lexists(self.path):
            return {}
        how = "delete it to start trusting anew (every file is then checked against its next download)"
        try:
            if not self.path.is_file():
                raise DownloadError(f"{self.path}: the checksum record is not a regular file; {how}")
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DownloadError(f"{self.path}: unreadable checksum record ({err.msg} at line {err.lineno}); "
                                f"{how}") from None
        except (UnicodeDecodeError, RecursionError, OSError) as err:
            raise DownloadError(f"{self.path}: unreadable checksum record ({type(err).__name__}); {how}") from None
        if not isinstance(entries, dict):
            raise DownloadError(f"{self.path}: the checksum record must be a JSON object keyed by URL; {how}")
        return entries

    def get(self, key: str) -> dict | None:
        """The record {"sha256", "size", "recorded"} for `key`, or None if never recorded.
        A malformed entry is an error naming the file and the entry: nothing is trusted or rewritten
        until the user deletes that entry (their say-so to trust the next download anew)."""
        entry = self._entries().get(key)
        if entry is None:
            return None
        problem = None
        if not isinstance(entry, dict):
            problem = "not an object"
        elif not isinstance(entry.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            problem = "its sha256 is not 64 lowercase hex digits"
        elif entry.get("size") is not None and (not isinstance(entry["size"], int) or entry["size"] < 0):
            problem = "its size is not a number of bytes"
        if problem:
            raise DownloadError(f"{self.path}: malformed entry {key!r} ({problem}); delete that entry to "
                                f"trust the next download of it anew")
        return entry

    def record(self, key: str, sha256: str, size: int) -> None:
        entries = self._entries()
        entries[key] = {"sha256": sha256, "size": size,
                        "recorded": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json(self.path, entries, sort_keys=True)

    def forget(self, key: str) -> None:
        """Drop the record for `key` (its first download turned out to be unusable)."""
        entries = self._entries()
        if entries.pop(key, None) is not None:
            write_json(self.path, entries, sort_keys=True)


def check_file(path: str | Path, sha256: str | None = None, *, trust_file: str | Path | None = None,
               key: str | None = None, record_first: bool = True) -> str:
    """Verify a file already on disk and return its sha256.

    With `sha256` the file must match it. Without it, and with a `trust_file`, the
    file must match the hash recorded for `key` at its first download; if nothing
    is recorded yet, this file becomes the reference (and a log line says so), unless
    `record_first` is False: then the caller records it (`record_first_use`) once the file
    has proved usable, e.g. an archive that extracts.
    Raises ChecksumMismatch, naming the file and both hashes.
    """
    path = Path(path)
    expected, recorded = _expected_hash(sha256, trust_file, key)
    if expected is None:
        problem = content_problem(path, path.name)
        if problem:
            raise DownloadError(f"{path}: {problem}; its checksum is not recorded: replace it with the real file")
    actual = _verified_hash(path, expected, recorded, trust_file, label=str(path))
    _trust_report(path.name, actual, path.stat().st_size, expected, recorded, trust_file, key, record_first)
    return actual


def _verified_hash(path: Path, expected: str | None, recorded: bool, trust_file, label: str,
                   consequence: str = "") -> str:
    actual = sha256_of(path)
    if expected is not None and actual != expected:
        how = (f" (recorded at its first download in {trust_file}: if the publisher really changed the file, "
               f"delete that entry)") if recorded else ""
        raise ChecksumMismatch(f"sha256 mismatch for {label}: expected {expected}{how}, got {actual}{consequence}")
    return actual


def record_first_use(trust_file: str | Path, key: str, sha256: str, size: int, label: str) -> None:
    """Record the sha256 of a first download in the trust store, and say so."""
    TrustStore(trust_file).record(key, sha256, size)
    log.warning("%s: the publisher gives no checksum; recorded its sha256 %s in %s "
                "(trust on first use): later downloads must match it", label, sha256, trust_file)


def _trust_report(label: str, actual: str, size: int, expected, recorded: bool, trust_file, key,
                  record_first: bool = True) -> None:
    """Record a first download in the trust store, or say that a later one matched it."""
    if expected is None and trust_file is not None and key is not None:
        if record_first:
            record_first_use(trust_file, key, actual, size, label)
    elif recorded:
        log.info("%s: matches the sha256 recorded at its first download (%s)", label, trust_file)


# What the first bytes of a file of each kind are (magic numbers), to refuse recording an error page.
_SIGNATURES = {
    (".tar.gz", ".tgz", ".gz"): ("a gzip archive", (b"\x1f\x8b",)),
    (".tar.bz2", ".tbz2", ".bz2"): ("a bzip2 archive", (b"BZh",)),
    (".tar.xz", ".txz", ".xz"): ("an xz archive", (b"\xfd7zXZ\x00",)),
    (".zip",): ("a zip archive", (b"PK\x03\x04", b"PK\x05\x06")),
    (".jpg", ".jpeg"): ("a JPEG image", (b"\xff\xd8\xff",)),
    (".png",): ("a PNG image", (b"\x89PNG\r\n\x1a\n",)),
    (".pkl",): ("a Python pickle", (b"\x80",)),
}
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<?xml", b"<!--")


def content_problem(path: str | Path, name: str) -> str | None:
    """Why the file at `path` is not what a file called `name` should be, judged by its first bytes,
    or None. Catches what a captive portal, a login page or a server error sends with status 200."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return "it is empty"
    lower = name.lower()
    kind, magics = None, ()
    for suffixes, (kind_of, starts) in _SIGNATURES.items():
        if lower.endswith(suffixes):
            kind, magics = kind_of, starts
    if lower.endswith(".tar"):
        kind = "a tar archive"
    if magics and head.startswith(magics) or kind == "a tar archive" and head[257:262] == b"ustar":
        return None
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_HTML_STARTS):
        return "it is a web page (HTML), e.g. a Wi-Fi login or an error page"
    if kind is not None:
        return f"it is not {kind} (it starts with {head[:12]!r})"
    return None


def _expected_hash(sha256, trust_file, key) -> tuple[str | None, bool]:
    """(expected hash or None, whether it comes from the trust-on-first-use record)."""
    if sha256:
        return sha256.lower(), False
    if trust_file is not None and key is not None:
        entry = TrustStore(trust_file).get(key)
        if entry:
            return entry["sha256"], True
    return None, False


# --------------------------------------------------------------------------------------------------
# HTTP with separate connect and read timeouts
# --------------------------------------------------------------------------------------------------

class _ReadTimeout:
    """Connects within the (short) connect timeout, then waits up to read_timeout per read."""

    def __init__(self, *args, read_timeout: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout

    def connect(self):
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _HTTPConnection(_ReadTimeout, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_ReadTimeout, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float):
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req):
        return self.do_open(_HTTPConnection, req, read_timeout=self.read_timeout)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float):
        super().__init__()
        self.read_timeout = read_timeout

    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context, read_timeout=self.read_timeout)


class _Interrupted(Exception):
    """The transfer stopped early; what arrived is kept in the .part file."""


class _Unreachable(Exception):
    """The server could not be contacted at all."""


class _BadAnswer(Exception):
    """The server answered something that is not HTTP, or redirects without end."""


def _user_agent() -> str:
    from .. import __version__

    return f"course_lib/{__version__} (+course kit 'Deep Learning for Image Search')"


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
# Room left on the disk after a download or an extraction: a full disk breaks much more than the kit.
DISK_RESERVE = 256 << 20
# An archive's members may add up to at most this many times its own size (a zip bomb expands
# thousands of times; photographs barely compress, text ground truth about tenfold) ...
MAX_EXPANSION = 20
MIN_EXTRACTION_ALLOWANCE = 64 << 20  # ... or this much, for small archives of text


def _validators_file(part: Path) -> Path:
    """Beside `<file>.part`: the server's ETag / Last-Modified for the bytes in it, so that a resume
    asks only for the rest of the *same* file (HTTP If-Range)."""
    return part.with_name(part.name + ".validators.json")


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _validators_file(part).unlink(missing_ok=True)


def _read_validators(part: Path) -> dict:
    try:
        data = json.loads(_validators_file(part).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if k in ("etag", "last_modified") and isinstance(v, str)} \
        if isinstance(data, dict) else {}


def _if_range(validators: dict) -> str | None:
    """The If-Range value: a strong ETag, else Last-Modified (RFC 9110 13.1.5), else None."""
    etag = validators.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return validators.get("last_modified")


def _free_bytes(folder: Path) -> int:
    """Bytes that may still be written in `folder` before the disk's reserve is reached."""
    return shutil.disk_usage(folder).free - DISK_RESERVE


class TooLarge(DownloadError):
    """More bytes than the manifest states, or than the disk can spare."""


def _transfer(source: str, part: Path, size: int | None, opener, connect_timeout: float,
              label: str, progress: bool, verified_later: bool) -> None:
    """Append the rest of `source` to `part`, resuming from its current length when that is safe.

    A resume asks the server, with If-Range, for the rest of the same file it started; if the file
    changed in between the server sends all of it and the download starts again. Without a validator
    from the server a resume is only made when a checksum will catch a spliced file (`verified_later`).
    """
    scheme = urllib.parse.urlsplit(source).scheme
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset == size:
        return  # complete already; verification decides whether it is right
    validators = _read_validators(part) if offset else {}
    condition = _if_range(validators)
    if offset and ((size is not None and offset > size) or scheme not in ("http", "https")
                   or (condition is None and not verified_later)):
        # Longer than the file, FTP (urllib cannot resume it), or no way to know that the server's
        # file is still the one whose start we have: start again.
        _discard(part)
        offset = 0
    headers = {"User-Agent": _user_agent()}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if condition:
            headers["If-Range"] = condition
    try:
        response = opener.open(urllib.request.Request(source, headers=headers), timeout=connect_timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # our partial file is not a prefix of what the server has
            err.close()
            _discard(part)
            raise _Interrupted("the server refused to resume; restarting from the beginning") from None
        if 300 <= err.code < 400:
            err.close()
            raise _BadAnswer(f"{source} redirects in a loop or too many times (HTTP {err.code})") from None
        raise
    except urllib.error.URLError as err:
        raise _Unreachable(" ".join(str(err.reason).split())) from None
    except (TimeoutError, ConnectionError, socket.gaierror) as err:
        raise _Unreachable(" ".join(str(err).split())) from None
    except http.client.HTTPException as err:
        raise _BadAnswer(f"{source} gave an answer that is not valid HTTP ({type(err).__name__})") from None

    with response:
        status = getattr(response, "status", None)
        remaining = response.headers.get("Content-Length")
        remaining = int(remaining) if remaining and remaining.isdigit() else None
        mode = "ab"
        if offset and status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            etag = response.headers.get("ETag")
            if not match or int(match.group(1)) != offset:
                _discard(part)
                raise _Interrupted("the server resumed at the wrong place; restarting from the beginning")
            if validators.get("etag") and etag and etag != validators["etag"]:
                _discard(part)
                raise _Interrupted("the file changed on the server since the download started; restarting")
        elif offset:
            log.info("%s: the server sent the whole file instead of the rest (it changed, or the server "
                     "cannot resume); downloading from the beginning", label)
            offset, mode = 0, "wb"
        if mode == "wb" or not offset:
            fresh = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}
            with open(_validators_file(part), "w") as f:
                json.dump({k: v for k, v in fresh.items() if v}, f)
        limit = size if size is not None else offset + _free_bytes(part.parent)
        if remaining is not None and offset + remaining > limit:
            _discard(part)
            raise TooLarge(_too_large(label, source, offset + remaining, size, part.parent))
        total = size if size is not None else (offset + remaining if remaining is not None else None)
        received = 0
        # read1 returns whatever has arrived, so bytes received before a stall are kept.
        read_some = getattr(response, "read1", response.read)
        with open(part, mode) as out, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                           unit_divisor=1024, desc=label, disable=not progress,
                                           leave=False) as bar:
            while True:
                try:
                    block = read_some(CHUNK_SIZE)
                except (http.client.IncompleteRead, TimeoutError, ConnectionError, OSError) as err:
                    raise _Interrupted(f"connection lost after {offset + received} bytes "
                                       f"({type(err).__name__})") from None
                if not block:
                    break
                out.write(block)
                received += len(block)
                bar.update(len(block))
                if offset + received > limit:
                    break
    if offset + received > limit:
        _discard(part)
        raise TooLarge(_too_large(label, source, offset + received, size, part.parent))
    if remaining is not None and received < remaining:
        raise _Interrupted(f"connection closed after {offset + received} of {offset + remaining} bytes")


def _too_large(label: str, source: str, got: int, size: int | None, folder: Path) -> str:
    if size is not None:
        return (f"{label} from {source}: the server sends more than the {size} bytes the manifest states "
                f"(at least {got}); stopped, and the download was deleted")
    return (f"{label} from {source}: not enough free space in {folder} (the download reached {got} bytes and "
            f"{DISK_RESERVE >> 20} MiB must stay free); stopped and deleted: free some space and run again")


def download(url: str, dest: str | Path, sha256: str | None = None, size: int | None = None, *,
             mirrors: tuple[str, ...] | list[str] = (), trust_file: str | Path | None = None,
             name: str | None = None, retries: int = 3, connect_timeout: float = CONNECT_TIMEOUT,
             read_timeout: float = READ_TIMEOUT, progress: bool = True, record_first: bool = True) -> Path:
    """Fetch `url` into `dest` (verified, atomic, resumable) and return `dest`.

    sha256/size: what the publisher states, or None. With no sha256 and a
        `trust_file`, the hash of the first complete download is recorded there and
        every later download must match it (trust on first use). Before it is recorded,
        the content must look like its name says (an archive, an image): a web page
        answered with status 200 (a Wi-Fi login, an error page) is refused and deleted.
        record_first=False leaves the recording to the caller (see `check_file`).
    A `dest` already present and matching is returned without any network access.
    The bytes go to `dest.part` first; an interrupted transfer keeps them, and the
    next attempt (up to `retries` more in this call, or a later call) asks the server
    for the rest with an HTTP Range request, conditional on the file being unchanged
    (If-Range with its ETag or Last-Modified). A server that ignores Range, or whose
    file changed, is handled by starting again. Only a verified file replaces `dest`,
    so a bad download never overwrites a good file; a bad .part is deleted.
    Caps: never more than `size` bytes when it is known, and never so much that less
    than DISK_RESERVE stays free on the disk (TooLarge).
    mirrors: further URLs for the same file, tried in order when `url` fails.
    Raises DownloadError (one line) when offline, on HTTP errors, or when the
    transfer keeps failing; ChecksumMismatch when the bytes are wrong.
    """
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, not {retries}")
    dest = Path(dest)
    label = name or dest.name
    key = url
    expected, recorded = _expected_hash(sha256, trust_file, key)
    if dest.exists():
        if expected is None and trust_file is None:
            return dest
        try:
            if expected is None and content_problem(dest, dest.name) is None or expected is not None:
                actual = _verified_hash(dest, expected, recorded, trust_file, label=str(dest))
                _trust_report(label, actual, dest.stat().st_size, expected, recorded, trust_file, key,
                              record_first)
                return dest
        except ChecksumMismatch as err:
            log.warning("%s; downloading it again (the file stays until a good copy has arrived)", err)

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    opener = urllib.request.build_opener(_HTTPHandler(read_timeout), _HTTPSHandler(read_timeout))
    manual = f"download {label} manually from {url} into {dest.parent}"
    failures: list[str] = []
    fetched_from = None
    for source in [url, *mirrors]:
        host = urllib.parse.urlsplit(source).hostname or source
        for attempt in range(retries + 1):
            try:
                _transfer(source, part, size, opener, connect_timeout, label, progress,
                          verified_later=expected is not None)
                fetched_from = source
                break
            except _Unreachable:
                failures.append(f"cannot reach {host} (no network?)")
                break
            except _BadAnswer as err:
                failures.append(str(err))
                break
            except urllib.error.HTTPError as err:
                reason = " ".join(str(err.reason).split())
                failures.append(f"{source} answered HTTP {err.code} {reason}")
                err.close()
                break
            except _Interrupted as err:
                reason = str(err)
                log.info("%s: %s (attempt %d of %d)", label, reason, attempt + 1, retries + 1)
        else:
            failures.append(f"the transfer from {host} kept failing ({reason}); run again to resume")
        if fetched_from:
            break
    if fetched_from is None:
        raise DownloadError(f"{failures[0]}: {manual}")

    received = part.stat().st_size
    if size is not None and received != size:
        _discard(part)
        raise ChecksumMismatch(f"size mismatch for {label} from {fetched_from}: expected {size} bytes, "
                               f"got {received}; the download was deleted")
    if expected is None:
        problem = content_problem(part, dest.name)
        if problem:
            _discard(part)
            raise DownloadError(f"{label} from {fetched_from}: {problem}; nothing was recorded and the download "
                                f"was deleted: {manual}")
    try:
        actual = _verified_hash(part, expected, recorded, trust_file, label=f"{label} from {fetched_from}",
                                consequence="; the download was deleted")
    except ChecksumMismatch:
        _discard(part)
        raise
    os.replace(part, dest)
    _validators_file(part).unlink(missing_ok=True)
    _trust_report(label, actual, received, expected, recorded, trust_file, key, record_first)
    return dest


# --------------------------------------------------------------------------------------------------
# Folders that are complete or absent, never half-written
# --------------------------------------------------------------------------------------------------

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
        write_json(staging / COMPLETE_MARKER, {
            **(record or {}), "completed": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}, sort_keys=True)
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


# --------------------------------------------------------------------------------------------------
# Safe extraction
# --------------------------------------------------------------------------------------------------

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
    free = _free_bytes(staging)
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
