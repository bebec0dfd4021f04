"""Building a dataset folder whole or not at all: staged beside its target, locked while building, then renamed."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from .sources import MiniBuildError

try:
    import fcntl
except ImportError:  # Windows: stale build folders are recognised by age only
    fcntl = None

BUILD_LOCK = ".building.lock"  # held (flock) by the process building; a killed build releases it
STALE_UNLOCKED_SECONDS = 600   # a build folder without a lock file counts as stale after this long


def build_once(target: str | Path, write: Callable[[Path], None], is_complete: Callable[[Path], bool],
               what: str) -> Path:
    """Build a dataset folder so that it appears complete or not at all: `write(staging)` fills a
    folder beside `target`, which is then renamed. An existing complete build is returned as is,
    anything else at `target` is left alone and reported (`what` says what was expected); builds
    killed mid-way are cleaned up first (`remove_stale_builds`). Used by mini and mini-train."""
    target = Path(target)
    if target.exists():
        if is_complete(target):
            return target
        raise MiniBuildError(f"{target} exists and is not {what}; remove it or choose another folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private to the user; the dataset is not secret
    lock = _hold_build_lock(staging)
    try:
        write(staging)
        (staging / BUILD_LOCK).unlink()
        try:
            os.rename(staging, target)
        except OSError:
            # Someone else finished the same build first: theirs is as good as ours.
            if is_complete(target):
                shutil.rmtree(staging)
                return target
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        lock.close()
    return target


def _hold_build_lock(staging: Path):
    lock = open(staging / BUILD_LOCK, "wb")
    if fcntl is not None:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return lock


def remove_stale_builds(target: str | Path) -> list[Path]:
    """Delete the `.<target>.building-*` folders that builds killed mid-way left beside `target`; a build
    still running holds its lock and is left alone. Returns the folders removed."""
    target = Path(target)
    removed = []
    for folder in target.parent.glob(f".{target.name}.building-*"):
        try:
            if fcntl is not None and (folder / BUILD_LOCK).exists():
                with open(folder / BUILD_LOCK, "rb") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its builder runs
            elif time.time() - folder.stat().st_mtime < STALE_UNLOCKED_SECONDS:
                continue  # made by an older version or without flock, or just being renamed into place
        except OSError:  # BlockingIOError: a build in progress; others: gone meanwhile, unreadable
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        warnings.warn(f"removed {len(removed)} unfinished mini build(s) left by an interrupted run "
                      f"in {target.parent}", stacklevel=3)
    return removed


def build_record_matches(folder: Path, **expected) -> bool:
    """Whether `folder` holds a finished build whose build_info.json has these values (version, seed)."""
    try:
        info = json.loads((folder / "build_info.json").read_text())
    except (OSError, ValueError):
        return False
    return all(info.get(key) == value for key, value in expected.items())
