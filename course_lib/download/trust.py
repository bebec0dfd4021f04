"""Checksums of downloaded files: the publisher's sha256, or the one recorded at the first download
(trust on first use); a file that looks like an error page is never trusted."""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
from pathlib import Path

from ..files import sha256_of, write_json

log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A file could not be fetched; the message is one line saying what to do."""


class ChecksumMismatch(DownloadError):
    """The bytes received are not the bytes expected (sha256 or size)."""


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
    expected, recorded = expected_hash(sha256, trust_file, key)
    if expected is None:
        problem = content_problem(path, path.name)
        if problem:
            raise DownloadError(f"{path}: {problem}; its checksum is not recorded: replace it with the real file")
    actual = verified_hash(path, expected, recorded, trust_file, label=str(path))
    report_trust(path.name, actual, path.stat().st_size, expected, recorded, trust_file, key, record_first)
    return actual


def verified_hash(path: Path, expected: str | None, recorded: bool, trust_file, label: str,
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


def report_trust(label: str, actual: str, size: int, expected, recorded: bool, trust_file, key,
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


def expected_hash(sha256, trust_file, key) -> tuple[str | None, bool]:
    """(expected hash or None, whether it comes from the trust-on-first-use record)."""
    if sha256:
        return sha256.lower(), False
    if trust_file is not None and key is not None:
        entry = TrustStore(trust_file).get(key)
        if entry:
            return entry["sha256"], True
    return None, False
