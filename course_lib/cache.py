"""Every cache the kit keeps, in one place: a folder per kind under `config.home_dir()`, keys by content (an
image by its bytes, never by its size and date), and one road to an entry: read it, or compute it and write
it atomically, healing a damaged entry on the way. Torch-free: torch and pandas load only for their formats.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import config
from .files import atomic_write, content_hash, save_npz

KINDS = {
    "descriptors": "global descriptors of a dataset, one file per method (descriptor_cache)",
    "trunk_maps": "conv maps of a frozen trunk, one file per image (train.frozen)",
    "detection": "localization and region-search tables (detection.evaluate), trained detectors",
    "regions": "R-MAC region descriptors of a dataset (detection.region_search.dataset_regions)",
    "local_features": "ORB keypoints and descriptors, one file per image (rerank.spatial)",
    "transforms": "PCAs learned on cached descriptors (transforms)",
    "training": "checkpoints of fine-tuning runs (train.loop)",
}
"""Each cache folder under `config.home_dir()` and what it holds."""


def cache_folder(kind: str) -> Path:
    """The folder of one kind of cache entry (a key of KINDS); it is created when an entry is written."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; kinds: {', '.join(KINDS)}")
    return config.home_dir() / kind


def content_key(spec, length: int = 20) -> str:
    """An entry's name: the hex sha256 of `spec` as JSON (keys sorted), cut to `length` characters. The spec
    holds every setting that determines the entry and its inputs' content hashes (`images_fingerprint`); a
    value JSON does not know (a numpy integer) is written as its str."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:length]


def images_fingerprint(paths) -> str:
    """Hash of image files' names and contents, so that an image edited in place gets a new key even with its
    size and modification time kept (hashing is cheap next to a forward pass). Within one process a file is
    read again only when its status (size, times, inode) changes (`files.content_hash`)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{os.fspath(path)}|{content_hash(path)}\n".encode())
    return digest.hexdigest()


def dataset_spec(dataset) -> dict:
    """A dataset's inputs as a key spec holds them: database and query contents, query boxes."""
    return {"db": images_fingerprint(dataset.images), "queries": images_fingerprint(dataset.queries),
            "bboxes": [box_spec(b) for b in dataset.bboxes]}


def box_spec(bbox) -> list[float] | None:
    """A crop box as a key spec holds it: four floats, or None for the whole image."""
    return None if bbox is None else [float(v) for v in bbox]


@dataclass(frozen=True)
class Format:
    """How an entry is read from and written to its file."""

    suffix: str
    read: Callable[[Path], Any]
    write: Callable[[Path, Any], None]


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}


def _read_tensor(path: Path):
    import torch

    value = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"holds a {type(value).__name__}, not a tensor")
    return value


def _write_tensor(path: Path, value) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())


def _read_table(path: Path):
    import pandas as pd

    return pd.read_csv(path)


def _write_table(path: Path, table) -> None:
    with atomic_write(path) as f:
        f.write(table.to_csv(index=False).encode())


ARRAYS = Format(".npz", _read_arrays, lambda path, arrays: save_npz(path, **arrays))  # {name: array}
TENSOR = Format(".pt", _read_tensor, _write_tensor)  # one torch tensor
TABLE = Format(".csv", _read_table, _write_table)  # a pandas DataFrame


def read_entry(path: Path, fmt: Format, check: Callable[[Any], None] | None = None,
               what: str = "cache entry"):
    """The entry at `path`, or None when there is none. A damaged entry (unreadable, or refused by `check`,
    which raises on a value of the wrong shape or type) is said in one warning line and deleted: None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        value = fmt.read(path)
        if check is not None:
            check(value)
    except Exception as err:  # noqa: BLE001 - readers raise many types on damaged files
        reason = str(err).splitlines()[0] if str(err) else ""
        warnings.warn(f"{path}: damaged {what} ({type(err).__name__}: {reason}); recomputing it", stacklevel=3)
        path.unlink(missing_ok=True)
        return None
    return value


def write_entry(path: Path, value, fmt: Format, what: str = "cache entry") -> None:
    """Write an entry atomically. A failed write is a warning: the value is computed, only the cache is lost."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt.write(path, value)
    except OSError as err:
        warnings.warn(f"{what} not written ({err.filename or path}: {err.strerror or type(err).__name__}); "
                      f"the next run computes it again", stacklevel=3)


def read_or_compute(path: Path, compute: Callable[[], Any], fmt: Format, check: Callable[[Any], None] | None = None,
                    what: str = "cache entry"):
    """The entry at `path` if it is there and sound (see `read_entry`), else `compute()`, written there."""
    value = read_entry(path, fmt, check, what)
    if value is None:
        value = compute()
        write_entry(path, value, fmt, what)
    return value


def expect(condition: bool, message: str) -> None:
    """For `check` functions: raise ValueError(message) unless `condition` holds."""
    if not condition:
        raise ValueError(message)
