"""course_lib.download against a real HTTP server on 127.0.0.1 (no mocks): resume, checksums,
trust on first use, offline errors, and archive extraction that refuses to escape its folder."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import tarfile
import time
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from support import LoopbackServer, make_tar_gz, unused_port
from course_lib.download import (COMPLETE_MARKER, ArchiveError, ChecksumMismatch, DownloadError, TrustStore,
                                 UnsafeArchiveError, check_file, completed, download, extract, staged_folder)


class FileServer(LoopbackServer):
    """Serves byte strings by path, with HTTP Range, and misbehaves on request.

    cut_once:     paths whose next response announces the full length but stops halfway
    ignore_range: paths answered in full (200) even when a Range is asked for
    stall:        paths whose response sends a few bytes, then goes silent for a while
    no_validators: paths answered without ETag (so a resume cannot be made conditional)
    endless:      paths that send bytes without end (no Content-Length)
    redirect_loop: paths that redirect to themselves
    garbage:      paths answered with bytes that are not HTTP
    Every other answer carries a strong ETag (the sha256 of the body) and honours If-Range.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_once: set[str] = set()
        self.ignore_range: set[str] = set()
        self.stall: set[str] = set()
        self.no_validators: set[str] = set()
        self.endless: set[str] = set()
        self.redirect_loop: set[str] = set()
        self.garbage: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        self.if_range: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                server.if_range.append(self.headers.get("If-Range"))
                if self.path in server.redirect_loop:
                    self.send_response(302)
                    self.send_header("Location", self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path in server.garbage:
                    self.wfile.write(b"this is not HTTP at all\r\n\r\n")
                    self.close_connection = True
                    return
                if self.path in server.endless:
                    self.send_response(200)
                    self.end_headers()
                    try:
                        while True:
                            self.wfile.write(b"\x1f\x8b" + b"z" * 65534)
                    except OSError:
                        return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
                start = 0
                asked = self.headers.get("Range")
                condition = self.headers.get("If-Range")
                if condition is not None and condition != etag:
                    asked = None  # RFC 9110: the file changed, so send all of it
                if asked and self.path not in server.ignore_range:
                    start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                if self.path not in server.no_validators:
                    self.send_header("ETag", etag)
                self.end_headers()
                if self.path in server.cut_once:
                    server.cut_once.discard(self.path)
                    self.wfile.write(payload[:len(payload) // 2])
                    self.close_connection = True
                    return
                if self.path in server.stall:
                    self.wfile.write(payload[:10])
                    self.wfile.flush()
                    time.sleep(1.5)
                    return
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.serve(Handler)


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


BIG = bytes(range(256)) * 4000  # 1 MB of non-repeating-per-KB content


# ------------------------------------------------------------------------------------------------
# download
# ------------------------------------------------------------------------------------------------

def test_good_archive_downloads_verifies_and_leaves_no_part(server, tmp_path):
    archive = make_tar_gz({"data/a.txt": b"alpha", "data/b.txt": b"beta"})
    server.files["/good.tar.gz"] = archive
    dest = tmp_path / "dl" / "good.tar.gz"
    out = download(server.url("/good.tar.gz"), dest, sha256=sha(archive), size=len(archive), progress=False)
    assert out == dest and dest.read_bytes() == archive
    assert not dest.with_name("good.tar.gz.part").exists()
    # A file already there and matching is returned without asking the server again.
    before = len(server.requests)
    download(server.url("/good.tar.gz"), dest, sha256=sha(archive), progress=False)
    assert len(server.requests) == before


def test_checksum_mismatch_deletes_download_and_keeps_previous_file(server, tmp_path):
    good = b"the good version" * 100
    server.files["/data.bin"] = b"a corrupted copy" * 100
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"what the user had before")
    with pytest.raises(ChecksumMismatch) as err:
        download(server.url("/data.bin"), dest, sha256=sha(good), progress=False)
    message = str(err.value)
    assert "\n" not in message
    assert "data.bin" in message and server.url("/data.bin") in message
    assert sha(good) in message and sha(b"a corrupted copy" * 100) in message
    assert dest.read_bytes() == b"what the user had before"
    assert list(tmp_path.iterdir()) == [dest]  # no .part left behind


def test_size_mismatch_is_caught_before_hashing(server, tmp_path):
    server.files["/short.bin"] = b"12345"
    with pytest.raises(ChecksumMismatch, match="expected 9 bytes, got 5"):
        download(server.url("/short.bin"), tmp_path / "short.bin", size=9, progress=False)
    assert not (tmp_path / "short.bin.part").exists()


def test_cut_transfer_is_resumed_by_the_next_call_with_range(server, tmp_path):
    server.files["/big.bin"] = BIG
    server.cut_once.add("/big.bin")
    dest = tmp_path / "big.bin"
    with pytest.raises(DownloadError, match="run again to resume") as err:
        download(server.url("/big.bin"), dest, sha256=sha(BIG), retries=0, progress=False)
    assert "\n" not in str(err.value)
    part = tmp_path / "big.bin.part"
    assert part.stat().st_size == len(BIG) // 2 and not dest.exists()

    download(server.url("/big.bin"), dest, sha256=sha(BIG), retries=0, progress=False)
    assert dest.read_bytes() == BIG and not part.exists()
    assert server.requests[-1] == ("/big.bin", f"bytes={len(BIG) // 2}-")


def test_cut_transfer_is_resumed_within_the_same_call(server, tmp_path):
    server.files["/big.bin"] = BIG
    server.cut_once.add("/big.bin")
    dest = download(server.url("/big.bin"), tmp_path / "big.bin", sha256=sha(BIG), retries=1, progress=False)
    assert dest.read_bytes() == BIG
    assert [r for _, r in server.requests] == [None, f"bytes={len(BIG) // 2}-"]


def test_server_that_ignores_range_restarts_cleanly(server, tmp_path, caplog):
    server.files["/big.bin"] = BIG
    server.ignore_range.add("/big.bin")
    dest = tmp_path / "big.bin"
    dest.with_name("big.bin.part").write_bytes(BIG[:1000])
    with caplog.at_level(logging.INFO, logger="course_lib.download"):
        download(server.url("/big.bin"), dest, sha256=sha(BIG), progress=False)
    assert dest.read_bytes() == BIG  # not the first 1000 bytes twice
    assert server.requests == [("/big.bin", "bytes=1000-")]
    assert "sent the whole file instead of the rest" in caplog.text


def test_partial_file_longer_than_the_remote_one_starts_again(server, tmp_path):
    server.files["/small.bin"] = b"0123456789"
    dest = tmp_path / "small.bin"
    dest.with_name("small.bin.part").write_bytes(b"x" * 50)  # a leftover of some other file
    download(server.url("/small.bin"), dest, sha256=sha(b"0123456789"), progress=False)
    assert dest.read_bytes() == b"0123456789"


def test_partial_file_longer_than_the_published_size_starts_again(server, tmp_path):
    server.files["/small.bin"] = b"0123456789"
    dest = tmp_path / "small.bin"
    dest.with_name("small.bin.part").write_bytes(b"x" * 50)
    download(server.url("/small.bin"), dest, size=10, progress=False)
    assert dest.read_bytes() == b"0123456789" and server.requests == [("/small.bin", None)]


def test_stalled_transfer_times_out_instead_of_hanging(server, tmp_path):
    server.files["/slow.bin"] = BIG
    server.stall.add("/slow.bin")
    start = time.monotonic()
    with pytest.raises(DownloadError, match="kept failing"):
        download(server.url("/slow.bin"), tmp_path / "slow.bin", retries=0, read_timeout=0.3, progress=False)
    assert time.monotonic() - start < 1.4  # the server would stay silent for 1.5 s
    assert (tmp_path / "slow.bin.part").read_bytes() == BIG[:10]  # kept for the next attempt


def test_offline_gives_one_line_with_what_to_do(tmp_path):
    url = f"http://127.0.0.1:{unused_port()}/datasets/oxbuild_images-v1.tgz"
    dest = tmp_path / "downloads" / "oxbuild_images-v1.tgz"
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download(url, dest, progress=False)
    assert time.monotonic() - start < 5
    assert str(err.value) == (f"cannot reach 127.0.0.1 (no network?): download oxbuild_images-v1.tgz manually "
                              f"from {url} into {dest.parent}")


def test_http_error_is_reported_and_mirror_is_used(server, tmp_path):
    server.files["/mirror/file.bin"] = b"payload"
    with pytest.raises(DownloadError, match="answered HTTP 404"):
        download(server.url("/missing.bin"), tmp_path / "a.bin", progress=False)
    dest = download(server.url("/missing.bin"), tmp_path / "b.bin", mirrors=[server.url("/mirror/file.bin")],
                    sha256=sha(b"payload"), progress=False)
    assert dest.read_bytes() == b"payload"


def test_trust_on_first_use_records_then_verifies(server, tmp_path, caplog):
    trust = tmp_path / "trusted_sha256.json"
    url = server.url("/nochecksum.bin")
    server.files["/nochecksum.bin"] = b"first version"
    with caplog.at_level(logging.INFO, logger="course_lib.download"):
        download(url, tmp_path / "one.bin", trust_file=trust, progress=False)
    assert "trust on first use" in caplog.text
    record = json.loads(trust.read_text())[url]
    assert record["sha256"] == sha(b"first version") and record["size"] == len(b"first version")

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="course_lib.download"):
        download(url, tmp_path / "two.bin", trust_file=trust, progress=False)
    assert "matches the sha256 recorded at its first download" in caplog.text

    server.files["/nochecksum.bin"] = b"silently changed on the server"
    with pytest.raises(ChecksumMismatch, match="recorded at its first download"):
        download(url, tmp_path / "three.bin", trust_file=trust, progress=False)
    assert not (tmp_path / "three.bin").exists() and not (tmp_path / "three.bin.part").exists()
    assert TrustStore(trust).get(url)["sha256"] == sha(b"first version")  # the record is not replaced


def test_trust_on_first_use_checks_a_file_placed_by_hand(tmp_path):
    trust = tmp_path / "trusted_sha256.json"
    placed = tmp_path / "manual.tgz"
    placed.write_bytes(make_tar_gz({"a.txt": b"downloaded in a browser"}))
    assert check_file(placed, trust_file=trust, key="https://example.org/manual.tgz") == sha(placed.read_bytes())
    placed.write_bytes(make_tar_gz({"a.txt": b"damaged later"}))
    with pytest.raises(ChecksumMismatch, match="manual.tgz"):
        check_file(placed, trust_file=trust, key="https://example.org/manual.tgz")


def test_published_checksum_wins_over_trust_record(server, tmp_path):
    trust = tmp_path / "trusted_sha256.json"
    url = server.url("/f.bin")
    TrustStore(trust).record(url, sha(b"old"), 3)
    server.files["/f.bin"] = b"new"
    download(url, tmp_path / "f.bin", sha256=sha(b"new"), trust_file=trust, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == b"new"


# ------------------------------------------------------------------------------------------------
# extraction
# ------------------------------------------------------------------------------------------------

def write_tar(path: Path, members: list[tarfile.TarInfo], contents: dict[str, bytes] | None = None) -> Path:
    contents = contents or {}
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            data = contents.get(info.name, b"")
            if info.isfile():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def file_member(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def link_member(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def test_extract_good_archive_marks_it_complete(tmp_path):
    archive = tmp_path / "good.tar.gz"
    archive.write_bytes(make_tar_gz({"jpg/a.txt": b"alpha", "jpg/sub/b.txt": b"beta"}))
    target = extract(archive, tmp_path / "out", record={"sha256": "abc"})
    assert (target / "jpg" / "sub" / "b.txt").read_bytes() == b"beta"
    assert completed(target)["archive"] == "good.tar.gz" and completed(target)["sha256"] == "abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tar.gz", "out"]  # no staging folder left


def test_extract_allows_links_that_stay_inside(tmp_path):
    archive = write_tar(tmp_path / "links.tar.gz",
                        [file_member("data/a.txt"), link_member("data/alias.txt", "a.txt")],
                        {"data/a.txt": b"alpha"})
    target = extract(archive, tmp_path / "out")
    assert (target / "data" / "alias.txt").read_bytes() == b"alpha"


@pytest.mark.parametrize("member, reason", [
    (file_member("../escape.txt"), "climbs out with '..'"),
    (file_member("data/../../escape.txt"), "climbs out with '..'"),
    (file_member("/var/absolute.txt"), "absolute path"),
    (link_member("data/evil", "../../escape.txt"), "points outside the target folder"),
    (link_member("data/evil", "/etc/passwd"), "link to absolute path"),
    (link_member("data/evil", "../../outside.txt", hard=True), "points outside the target folder"),
])
def test_extract_refuses_members_that_escape(tmp_path, member, reason):
    archive = write_tar(tmp_path / "evil.tar.gz", [file_member("data/ok.txt"), member])
    with pytest.raises(UnsafeArchiveError) as err:
        extract(archive, tmp_path / "site" / "out")
    assert reason in str(err.value) and "evil.tar.gz" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "site" / "out").exists()
    assert list((tmp_path / "site").iterdir()) == []  # staging removed, nothing written
    assert not (tmp_path / "escape.txt").exists()


def test_extract_refuses_device_files(tmp_path):
    device = tarfile.TarInfo("dev/null")
    device.type = tarfile.CHRTYPE
    archive = write_tar(tmp_path / "dev.tar.gz", [device])
    with pytest.raises(UnsafeArchiveError, match="device"):
        extract(archive, tmp_path / "out")


@pytest.mark.parametrize("name, reason", [("../escape.txt", "'..'"), ("/abs.txt", "absolute path")])
def test_extract_refuses_zip_members_that_escape(tmp_path, name, reason):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", b"ok")
        zf.writestr(zipfile.ZipInfo(name), b"bad")
    with pytest.raises(UnsafeArchiveError, match=re.escape(reason)):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_zip(tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("full/a.jpg", b"A")
    assert (extract(archive, tmp_path / "out") / "full" / "a.jpg").read_bytes() == b"A"


def test_truncated_archive_is_an_archive_error(tmp_path):
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(make_tar_gz({"a.txt": BIG})[:2000])
    with pytest.raises(ArchiveError, match="not a readable archive"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failed_prepare_leaves_nothing_half_done(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar_gz({"a.txt": b"alpha"}))

    def broken(staging):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        extract(archive, tmp_path / "out", prepare=broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz"]


def test_folder_without_marker_is_never_overwritten(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar_gz({"a.txt": b"alpha"}))
    mine = tmp_path / "out"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's own file")
    with pytest.raises(FileExistsError, match="not made by course_lib"):
        extract(archive, mine, replace=True)
    assert (mine / "notes.txt").read_text() == "the user's own file"


def test_staged_folder_replaces_only_a_complete_folder(tmp_path):
    target = tmp_path / "built"
    with staged_folder(target, {"version": 1}) as staging:
        (staging / "v.txt").write_text("1")
    with staged_folder(target, {"version": 2}, replace=True) as staging:
        (staging / "v.txt").write_text("2")
    assert (target / "v.txt").read_text() == "2" and completed(target)["version"] == 2
    assert (target / COMPLETE_MARKER).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["built"]


# ------------------------------------------------------------------------------------------------
# hardening (issue 9): what trust on first use records, spliced resumes, caps, one-line errors
# ------------------------------------------------------------------------------------------------

PORTAL = b"<!DOCTYPE html><html><head><title>Hotel Wi-Fi</title></head><body>Please log in</body></html>\n"


def test_captive_portal_page_is_never_recorded_as_trusted(server, tmp_path):
    trust = tmp_path / "trusted_sha256.json"
    url = server.url("/jpg1.tar.gz")
    server.files["/jpg1.tar.gz"] = PORTAL  # a 200 answer of the wrong type
    dest = tmp_path / "jpg1.tar.gz"
    with pytest.raises(DownloadError) as err:
        download(url, dest, trust_file=trust, progress=False)
    message = str(err.value)
    assert "\n" not in message and "jpg1.tar.gz" in message and "web page" in message
    assert not trust.exists() and not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no .part, no validators left
    # Once the network is real, the real archive is downloaded and recorded.
    server.files["/jpg1.tar.gz"] = make_tar_gz({"jpg/1.jpg": b"\xff\xd8\xff" + b"x" * 100})
    download(url, dest, trust_file=trust, progress=False)
    assert TrustStore(trust).get(url)["sha256"] == sha(server.files["/jpg1.tar.gz"])


def test_wrong_type_placed_by_hand_is_not_recorded(tmp_path):
    trust = tmp_path / "trusted_sha256.json"
    placed = tmp_path / "ukbench.zip"
    placed.write_bytes(PORTAL)
    with pytest.raises(DownloadError, match=r"ukbench\.zip: it is a web page"):
        check_file(placed, trust_file=trust, key="https://example.org/ukbench.zip")
    placed.write_bytes(b"Rar!\x1a\x07\x00 not a zip")
    with pytest.raises(DownloadError, match=r"ukbench\.zip: it is not a zip archive"):
        check_file(placed, trust_file=trust, key="https://example.org/ukbench.zip")
    assert not trust.exists()
    assert placed.read_bytes().startswith(b"Rar!")  # the user's file is left as it was


def test_resume_onto_a_file_that_changed_on_the_server_restarts(server, tmp_path):
    """The splice: the first half of the old file + the second half of the new one must never be trusted."""
    trust = tmp_path / "trusted_sha256.json"
    url = server.url("/data.tar.gz")
    old, new = make_tar_gz({"a.bin": BIG}), make_tar_gz({"a.bin": BIG[::-1]})
    server.files["/data.tar.gz"] = old
    server.cut_once.add("/data.tar.gz")
    with pytest.raises(DownloadError, match="run again to resume"):
        download(url, tmp_path / "data.tar.gz", trust_file=trust, retries=0, progress=False)
    assert (tmp_path / "data.tar.gz.part").stat().st_size == len(old) // 2
    server.files["/data.tar.gz"] = new  # the publisher replaced the file in between
    download(url, tmp_path / "data.tar.gz", trust_file=trust, progress=False)
    assert (tmp_path / "data.tar.gz").read_bytes() == new
    assert server.if_range[-1] == f'"{sha(old)[:16]}"'  # the resume was conditional on the old file
    assert TrustStore(trust).get(url)["sha256"] == sha(new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.tar.gz", "trusted_sha256.json"]


def test_resume_of_an_unchanged_file_asks_only_for_the_rest(server, tmp_path):
    url = server.url("/same.tar.gz")
    body = make_tar_gz({"a.bin": BIG})
    server.files["/same.tar.gz"] = body
    server.cut_once.add("/same.tar.gz")
    download(url, tmp_path / "same.tar.gz", trust_file=tmp_path / "t.json", progress=False)
    assert (tmp_path / "same.tar.gz").read_bytes() == body
    assert server.requests[-1] == ("/same.tar.gz", f"bytes={len(body) // 2}-")


def test_without_validators_an_unverifiable_resume_starts_again(server, tmp_path):
    url = server.url("/plain.tar.gz")
    body = make_tar_gz({"a.bin": BIG})
    server.files["/plain.tar.gz"] = body
    server.no_validators.add("/plain.tar.gz")
    server.cut_once.add("/plain.tar.gz")
    download(url, tmp_path / "plain.tar.gz", trust_file=tmp_path / "t.json", progress=False)
    assert (tmp_path / "plain.tar.gz").read_bytes() == body
    assert server.requests[-1] == ("/plain.tar.gz", None)  # no Range: nothing could prove it the same file


def test_endless_data_stops_at_the_stated_size(server, tmp_path):
    server.files["/big.tgz"] = b"\x1f\x8b" + bytes(400_000)  # announced longer than stated: refused at once
    with pytest.raises(DownloadError, match=r"more than the 300000 bytes the manifest states"):
        download(server.url("/big.tgz"), tmp_path / "big.tgz", size=300_000, progress=False)
    server.endless.add("/endless.tgz")
    with pytest.raises(DownloadError, match=r"more than the 300000 bytes the manifest states") as err:
        download(server.url("/endless.tgz"), tmp_path / "endless.tgz", size=300_000, progress=False)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_endless_data_stops_before_the_disk_is_full(server, tmp_path, monkeypatch):
    import shutil

    from course_lib.download import transfer

    server.endless.add("/endless.tgz")
    # Leave 3 MB of the real free space to this download: it must stop there, not fill the disk.
    monkeypatch.setattr(transfer, "DISK_RESERVE", shutil.disk_usage(tmp_path).free - 3_000_000)
    with pytest.raises(DownloadError, match=r"not enough free space") as err:
        download(server.url("/endless.tgz"), tmp_path / "endless.tgz", progress=False)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_redirect_loop_and_non_http_answers_are_one_line(server, tmp_path):
    server.redirect_loop.add("/loop.tgz")
    server.garbage.add("/garbage.tgz")
    for path, expected in [("/loop.tgz", "redirects in a loop"), ("/garbage.tgz", "not valid HTTP")]:
        with pytest.raises(DownloadError, match=expected) as err:
            download(server.url(path), tmp_path / "x.tgz", progress=False)
        assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, problem", [
    ('{"https://example.org/a.tgz": "deadbeef"}', "not an object"),
    ('{"https://example.org/a.tgz": {"sha256": "xyz", "size": 3}}', "not 64 lowercase hex"),
    ('{"https://example.org/a.tgz": {"sha256": "' + "a" * 64 + '", "size": "big"}}', "size is not"),
    ('["https://example.org/a.tgz"]', "must be a JSON object"),
    ('{"https://example.org/a.tgz": ', "unreadable checksum record"),
    ("[" * 100_000, "unreadable checksum record"),
])
def test_malformed_trust_record_names_file_and_entry_and_is_left_alone(tmp_path, content, problem):
    trust = tmp_path / "trusted_sha256.json"
    trust.write_text(content)
    placed = tmp_path / "a.tgz"
    placed.write_bytes(make_tar_gz({"a.txt": b"a"}))
    with pytest.raises(DownloadError, match=problem) as err:
        check_file(placed, trust_file=trust, key="https://example.org/a.tgz")
    assert "\n" not in str(err.value) and str(trust) in str(err.value)
    assert trust.read_text() == content  # the user decides: nothing is rewritten behind their back


def test_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(100 << 20))  # 100 MiB of zeros compress to about 100 KB
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.zip: refusing to extract 104857600 bytes"):
        extract(bomb, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_tar_bomb_is_refused_too(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 100 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.tar.gz"]


def test_extraction_beyond_the_free_space_is_refused(tmp_path, monkeypatch):
    import shutil

    from course_lib.download import transfer

    archive = tmp_path / "photos.tar.gz"
    archive.write_bytes(make_tar_gz({"a.bin": BIG, "b.bin": BIG}))
    monkeypatch.setattr(transfer, "DISK_RESERVE", shutil.disk_usage(tmp_path).free - 1_000_000)
    with pytest.raises(UnsafeArchiveError, match="free some space") as err:
        extract(archive, tmp_path / "out")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.tar.gz"]


def test_not_an_archive_is_one_line(tmp_path):
    fake = tmp_path / "fake.tar"
    fake.write_bytes(b"just some text, no tar header\n" * 30)
    with pytest.raises(ArchiveError) as err:
        extract(fake, tmp_path / "out")
    assert "\n" not in str(err.value) and "fake.tar" in str(err.value)
