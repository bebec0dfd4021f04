"""Downloads that survive real networks: resumable (HTTP Range, If-Range), verified, capped, renamed into place."""
from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .trust import ChecksumMismatch, DownloadError, content_problem, expected_hash, report_trust, verified_hash

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0   # seconds to open a connection: short, so that offline fails fast
READ_TIMEOUT = 60.0     # seconds without a single byte before a transfer counts as stalled
CHUNK_SIZE = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
# Room left on the disk after a download or an extraction: a full disk breaks much more than the kit.
DISK_RESERVE = 256 << 20


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


def free_bytes(folder: Path) -> int:
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
        limit = size if size is not None else offset + free_bytes(part.parent)
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
    expected, recorded = expected_hash(sha256, trust_file, key)
    if dest.exists():
        if expected is None and trust_file is None:
            return dest
        try:
            if expected is None and content_problem(dest, dest.name) is None or expected is not None:
                actual = verified_hash(dest, expected, recorded, trust_file, label=str(dest))
                report_trust(label, actual, dest.stat().st_size, expected, recorded, trust_file, key,
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
        actual = verified_hash(part, expected, recorded, trust_file, label=f"{label} from {fetched_from}",
                                consequence="; the download was deleted")
    except ChecksumMismatch:
        _discard(part)
        raise
    os.replace(part, dest)
    _validators_file(part).unlink(missing_ok=True)
    report_trust(label, actual, received, expected, recorded, trust_file, key, record_first)
    return dest
