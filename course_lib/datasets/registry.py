"""The dataset registry: names, manifests, fetching and verifying files, and `load_dataset`.

Real datasets download on demand as their manifest in course_lib/datasets/manifests/
says; `mini` is built from photographs inside pip packages; a folder in the documented
custom format ("bring your own") loads from anywhere.
"""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Callable

from .. import config
from . import mini, mini_train, rsfm
from .base import DatasetFormatError, DatasetNotAvailable, RetrievalDataset
from ..files import sha256_of
from ..download import (ArchiveError, ChecksumMismatch, DownloadError, TrustStore, UnsafeArchiveError, check_file,
                        completed, download, extract, record_first_use)
from .folder import load_folder
from .formats import read_distractors, read_holidays, read_oxford, read_revisited, read_ukbench

log = logging.getLogger(__name__)

MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
TRUST_FILE = "trusted_sha256.json"  # trust-on-first-use record, at the top of the datasets cache

# Sizes as stated by the publishers (dataset pages and papers cited in each manifest).
DATASETS: dict[str, str] = {
    "mini": "embedded offline benchmark made from photographs shipped inside pip packages",
    "mini-train": "offline training set (notebook 02): views of objects on other pip photos than mini's",
    "roxford5k": "Revisited Oxford: 4993 images, 70 queries, Easy/Medium/Hard (Radenovic et al., CVPR 2018)",
    "rparis6k": "Revisited Paris: 6322 images, 70 queries, Easy/Medium/Hard (Radenovic et al., CVPR 2018)",
    "oxford5k": "Oxford Buildings: 5062 images, 55 queries (Philbin et al., CVPR 2007)",
    "paris6k": "Paris: 6412 images, 55 queries (Philbin et al., CVPR 2008)",
    "holidays": "INRIA Holidays: 1491 images, 500 queries, rotated upright (Jegou et al., ECCV 2008)",
    "ukbench": "UKBench: 10200 images in groups of 4, every image a query (Nister & Stewenius, CVPR 2006)",
    "rsfm120k": "retrieval-SfM-120k training set: 91642 + 6403 images, query-positive pairs, 3D-model clusters",
    "revisitop1m": "R1M: about 1M distractor images for roxford5k/rparis6k, no queries (Radenovic et al., CVPR 2018)",
}



# --------------------------------------------------------------------------------------------------
# Registry and entry point
# --------------------------------------------------------------------------------------------------

def load_dataset(name_or_path: str | os.PathLike, download: bool = True, root: str | os.PathLike | None = None,
                 manifest: dict | str | os.PathLike | None = None, progress: bool = True) -> RetrievalDataset:
    """A registered dataset by name (see DATASETS), or a custom dataset folder by path.

    download: fetch a missing real dataset from its public source (else fail with
        DatasetNotAvailable). Files are verified, resumable and written atomically.
    root: cache folder for datasets; default `config.datasets_dir()` ($COURSE_LIB_HOME).
    manifest: use this manifest (a dict or a JSON file) instead of the one in
        course_lib/datasets/manifests/, e.g. to fetch from a mirror or a local test server.
    """
    cache = Path(root).expanduser() if root is not None else config.datasets_dir()
    key = os.fspath(name_or_path)
    if manifest is not None:
        spec = manifest if isinstance(manifest, dict) else load_manifest(manifest)
        _validate_manifest(spec, "manifest")
        if key.lower() != spec["name"]:
            raise ValueError(f"the manifest given is for {spec['name']!r}, not {key!r}")
        return _load_registered(spec, cache, download, progress)
    if isinstance(name_or_path, str) and key.lower() in DATASETS:
        if key.lower() == "mini":
            return _load_mini(cache)
        if key.lower() == "mini-train":
            folder = cache / f"mini-train-v{mini_train.MINI_TRAIN_VERSION}"
            return mini_train.load_mini_train(mini_train.build_mini_train(folder))
        return _load_registered(load_manifest(key.lower()), cache, download, progress)
    path = Path(key).expanduser()
    if path.is_dir():
        return load_folder(path)
    if path.exists():
        raise ValueError(f"{key!r} is a file; a dataset folder holds images/ and ground_truth.json")
    raise ValueError(f"unknown dataset {key!r}: choose one of {', '.join(DATASETS)} "
                     f"or give the path of a folder with images/ and ground_truth.json")


def load_manifest(name_or_path: str | os.PathLike) -> dict:
    """The manifest of a registered dataset (course_lib/datasets/manifests/<name>.json), or of a given JSON file."""
    text = os.fspath(name_or_path)
    path = Path(text) if text.endswith(".json") else MANIFEST_DIR / f"{text}.json"
    if not path.is_file():
        if text.endswith(".json"):
            raise DatasetNotAvailable(f"no manifest {path}: no such file")
        raise DatasetNotAvailable(f"no manifest {path}: this install of course_lib lacks the manifests it ships "
                                  f"in course_lib/datasets/manifests/ (reinstall it)")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetFormatError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except (UnicodeDecodeError, RecursionError) as err:
        raise DatasetFormatError(f"{path}: not a readable manifest ({type(err).__name__})") from None
    _validate_manifest(spec, str(path))
    return spec


_MANIFEST_KEYS = ("name", "title", "format", "homepage", "citation", "license", "files", "images")
_FORMATS = ("revisited", "oxford", "holidays", "ukbench", "rsfm", "distractors")


def _validate_manifest(spec, where: str) -> None:
    if not isinstance(spec, dict):
        raise DatasetFormatError(f"{where}: a manifest is a JSON object")
    missing = [k for k in _MANIFEST_KEYS if k not in spec]
    if missing:
        raise DatasetFormatError(f"{where}: missing {', '.join(missing)}")
    if spec["format"] not in _FORMATS:
        raise DatasetFormatError(f"{where}: format must be one of {', '.join(_FORMATS)}, not {spec['format']!r}")
    for i, entry in enumerate(spec["files"]):
        for k in ("name", "url", "path", "sha256", "size"):
            if k not in entry:
                raise DatasetFormatError(f"{where}: files[{i}] has no {k!r}")
        if Path(entry["path"]).name != entry["name"]:
            raise DatasetFormatError(f"{where}: files[{i}].path must end in its name {entry['name']!r}, "
                                     f"so that 'put <name> into <folder>' instructions are right")
        sha = entry["sha256"]
        if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", str(sha)):
            raise DatasetFormatError(f"{where}: files[{i}].sha256 must be 64 lowercase hex digits or null")
    for name, degrees in spec.get("rotate_clockwise", {}).items():
        if degrees not in (90, 180, 270):
            raise DatasetFormatError(f"{where}: rotate_clockwise[{name!r}] must be 90, 180 or 270")


def is_available(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether a registered dataset is already on this machine (no network access)."""
    cache = Path(root).expanduser() if root is not None else config.datasets_dir()
    if name == "mini":
        return (cache / f"mini-v{mini.MINI_VERSION}" / "build_info.json").is_file()
    if name == "mini-train":
        return (cache / f"mini-train-v{mini_train.MINI_TRAIN_VERSION}" / "build_info.json").is_file()
    spec = load_manifest(name)
    return all(_file_ready(entry, cache) for entry in spec["files"])


def describe_registry(root: str | os.PathLike | None = None) -> str:
    """The registered datasets, one per line, with whether each is already here."""
    cache = Path(root).expanduser() if root is not None else config.datasets_dir()
    lines = [f"datasets in {cache} (set COURSE_LIB_HOME to move them):"]
    for name, summary in DATASETS.items():
        try:
            here = is_available(name, cache)
        except DatasetNotAvailable:
            here = False
        status = ("built" if here else "built on first use") if name in ("mini", "mini-train") else (
            "here" if here else "downloads on first use")
        lines.append(f"  {name:<10} {status:<22} {summary}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Fetching the files of a registered dataset
# --------------------------------------------------------------------------------------------------

def _expected_sha(entry: dict, cache: Path) -> str | None:
    if entry["sha256"]:
        return entry["sha256"]
    record = TrustStore(cache / TRUST_FILE).get(entry["url"])
    return record["sha256"] if record else None


def _file_ready(entry: dict, cache: Path) -> bool:
    if entry.get("extract_to"):
        record = completed(cache / entry["extract_to"])
        expected = _expected_sha(entry, cache)
        return record is not None and (expected is None or record.get("sha256") == expected)
    return (cache / entry["path"]).is_file()


def _ensure_files(spec: dict, cache: Path, allow_download: bool, progress: bool) -> None:
    """Make every file of `spec` present and verified (downloading and extracting as needed)."""
    trust_file = cache / TRUST_FILE
    for entry in spec["files"]:
        dest = cache / entry["path"]
        archive_target = cache / entry["extract_to"] if entry.get("extract_to") else None
        if archive_target is not None and _file_ready(entry, cache):
            continue
        if not allow_download and not dest.is_file():
            raise DatasetNotAvailable(
                f"{spec['name']} is not in {cache} and downloads are off (download=False, or --no-download): "
                f"allow them, or put {entry['name']} from {entry['url']} into {dest.parent}")
        # An archive's checksum is trusted only once it has extracted: a damaged first copy is never recorded.
        first_use = _expected_sha(entry, cache) is None
        record_first = archive_target is None
        try:
            if allow_download:
                download(entry["url"], dest, entry["sha256"], entry["size"], mirrors=entry.get("mirrors", ()),
                         trust_file=trust_file, name=entry["name"], progress=progress, record_first=record_first)
            else:
                check_file(dest, entry["sha256"], trust_file=trust_file, key=entry["url"], record_first=record_first)
        except ChecksumMismatch as err:
            raise DatasetNotAvailable(f"{spec['name']}: {err}") from None
        except DownloadError as err:
            raise DatasetNotAvailable(f"{spec['name']} is not available: {err}") from None
        if archive_target is not None:
            sha = sha256_of(dest) if first_use else None
            size = dest.stat().st_size
            _extract_archive(spec, entry, dest, archive_target, trust_file, placed_by_hand=not allow_download,
                             sha256=sha)
            if first_use:
                record_first_use(trust_file, entry["url"], sha, size, entry["name"])


def _extract_archive(spec: dict, entry: dict, archive: Path, target: Path, trust_file: Path,
                     placed_by_hand: bool = False, sha256: str | None = None) -> None:
    rotations = spec.get("rotate_clockwise") or {}
    log.info("%s: extracting %s into %s", spec["name"], archive.name, target)
    try:
        extract(archive, target, prepare=_rotate_upright(rotations) if rotations else None,
                record={"sha256": sha256 or _expected_sha(entry, trust_file.parent), "url": entry["url"]},
                replace=True)
    except UnsafeArchiveError:
        raise  # kept on disk for inspection: it is what the server really sent
    except ArchiveError as err:
        # A damaged first download must not stay the trusted reference, nor block the next try.
        TrustStore(trust_file).forget(entry["url"])
        if placed_by_hand:  # the user's copy: theirs to replace, never deleted here
            raise DatasetNotAvailable(f"{spec['name']}: {err}; replace it with a complete copy "
                                      f"from {entry['url']}") from None
        archive.unlink()
        raise DatasetNotAvailable(f"{spec['name']}: {err}; it was deleted, run again to download it anew") from None
    except FileExistsError as err:
        raise DatasetNotAvailable(f"{spec['name']}: {err}") from None
    archive.unlink()  # the extracted folder records the archive's sha256; the archive itself is not needed


_TRANSPOSE_CLOCKWISE = {90: "ROTATE_270", 180: "ROTATE_180", 270: "ROTATE_90"}  # Pillow turns anticlockwise


def _rotate_upright(rotations: dict[str, int]) -> Callable[[Path], None]:
    """A `prepare` step for `extract`: turn the listed images (by file name) clockwise in place."""
    def prepare(staging: Path) -> None:
        from PIL import Image

        turned = 0
        for path in sorted(staging.rglob("*")):
            degrees = rotations.get(path.name)
            if not degrees or not path.is_file():
                continue
            with Image.open(path) as im:
                exif = im.getexif()
                icc_profile = im.info.get("icc_profile")
                upright = im.transpose(getattr(Image.Transpose, _TRANSPOSE_CLOCKWISE[degrees]))
            # The list was made on the stored pixels; an orientation tag would turn them a second time.
            exif.pop(0x0112, None)
            upright.save(path, format="JPEG", quality=95, exif=exif.tobytes(), icc_profile=icc_profile)
            turned += 1
        if turned:
            log.info("rotated %d images upright (manual fix listed in the manifest)", turned)
    return prepare


def _load_registered(spec: dict, cache: Path, allow_download: bool, progress: bool) -> RetrievalDataset:
    _ensure_files(spec, cache, allow_download, progress)
    reader = {"revisited": read_revisited, "oxford": read_oxford, "holidays": read_holidays,
              "ukbench": read_ukbench, "rsfm": rsfm.read_rsfm, "distractors": read_distractors}[spec["format"]]
    dataset = reader(spec, cache)
    dataset.citation = spec["citation"]
    dataset.extra.update(homepage=spec["homepage"], license=spec["license"])
    return dataset


# --------------------------------------------------------------------------------------------------
# The embedded mini benchmark
# --------------------------------------------------------------------------------------------------

def _load_mini(cache: Path) -> RetrievalDataset:
    """Build the mini benchmark once (course_lib.datasets.mini) into the cache, then load it as a folder."""
    target = cache / f"mini-v{mini.MINI_VERSION}"
    mini.build_mini(target)  # returns at once when a complete build is already there
    return load_folder(target, name="mini", protocol="revisited")


