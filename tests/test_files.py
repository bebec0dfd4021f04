"""course_lib.files on real files: atomic writes never replace what is not a regular file, follow links,
respect the umask, leave no temporaries; JSON has no NaN."""
import json
import os
import stat

import numpy as np
import pytest

from course_lib.files import atomic_write, save_npz, sha256_of, write_json


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part") or p.name.startswith("."))


def test_writes_a_new_file_and_replaces_an_old_one(tmp_path):
    target = tmp_path / "r.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2} and leftovers(tmp_path) == []


def test_symlink_is_written_through_and_stays_a_link(tmp_path):
    real = tmp_path / "data" / "results.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    write_json(link, {"map": 0.5})
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text()) == {"map": 0.5}
    assert leftovers(tmp_path) == [] and leftovers(real.parent) == []


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "out.json"
    link.symlink_to(tmp_path / "made.json")
    write_json(link, [1])
    assert link.is_symlink() and json.loads((tmp_path / "made.json").read_text()) == [1]


def test_symlink_loop_is_an_error_and_the_link_stays(tmp_path):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    with pytest.raises(OSError, match="symbolic link loop"):
        write_json(loop, {})
    assert loop.is_symlink() and leftovers(tmp_path) == []


def test_dev_null_is_written_not_replaced():
    before = os.stat("/dev/null")
    write_json("/dev/null", {"a": 1})
    save_npz("/dev/null", x=np.zeros(3))
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_fifo_is_written_into_not_replaced(tmp_path):
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    write_json(fifo, {"via": "pipe"})
    reader.join(10)
    assert json.loads(got[0]) == {"via": "pipe"} and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path) == []


def test_folder_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        write_json(tmp_path, {})


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "r.json", {})
        save_npz(tmp_path / "c.npz", x=np.zeros(2))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "c.npz").stat().st_mode) == mode


def test_failure_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("precious")
    with pytest.raises(ZeroDivisionError):
        with atomic_write(target) as f:
            f.write(b"half")
            1 / 0
    assert target.read_text() == "precious" and leftovers(tmp_path) == []
    with pytest.raises(TypeError):
        write_json(target, {"not json": object()})
    assert target.read_text() == "precious" and leftovers(tmp_path) == []


def test_unwritable_folder_fails_before_touching_anything(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            write_json(folder / "r.json", {})
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_nan_and_infinity_become_null(tmp_path):
    write_json(tmp_path / "r.json", {"map": float("nan"), "rows": [1.0, float("inf"), (float("-inf"),)]})
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"map": None, "rows": [1.0, None, [None]]}


def test_sha256_of_reads_in_chunks(tmp_path):
    import hashlib

    data = os.urandom(3 << 20)
    (tmp_path / "b").write_bytes(data)
    assert sha256_of(tmp_path / "b") == hashlib.sha256(data).hexdigest()


def test_content_hash_follows_the_bytes_not_the_name_or_the_date(tmp_path):
    import shutil

    from course_lib.files import content_hash, sha256_of

    a = tmp_path / "a.jpg"
    a.write_bytes(b"first")
    shutil.copy2(a, tmp_path / "b.jpg")
    assert content_hash(a) == content_hash(tmp_path / "b.jpg") == sha256_of(a)
    times = (a.stat().st_atime_ns, a.stat().st_mtime_ns)
    a.write_bytes(b"other")                     # edited in place, same size, date put back
    os.utime(a, ns=times)
    assert content_hash(a) == sha256_of(a) != content_hash(tmp_path / "b.jpg")
