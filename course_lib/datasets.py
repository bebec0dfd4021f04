"""Retrieval datasets: one registry, one in-memory shape for all of them.

Every dataset, from the embedded `mini` to the revisited Oxford/Paris, becomes a
`RetrievalDataset`: database image paths, query image paths with optional query
boxes, and per-query ground truth in the revisited Oxford/Paris structure.
Real datasets download on demand as their manifest in course_lib/manifests/ says; a
folder in the documented custom format ("bring your own") loads from anywhere.
"""
from __future__ import annotations

import importlib
import json
import logging
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from . import config
from .download import (ArchiveError, ChecksumMismatch, DownloadError, TrustStore, UnsafeArchiveError, check_file,
                       completed, download, extract)

log = logging.getLogger(__name__)

PROTOCOLS = ("revisited", "oxford", "holidays", "ukbench", "custom")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
TRUST_FILE = "trusted_sha256.json"  # trust-on-first-use record, at the top of the datasets cache

# Sizes as stated by the publishers (dataset pages and papers cited in each manifest).
DATASETS: dict[str, str] = {
    "mini": "embedded offline benchmark made from photographs shipped inside pip packages",
    "roxford5k": "Revisited Oxford: 4993 images, 70 queries, Easy/Medium/Hard (Radenovic et al., CVPR 2018)",
    "rparis6k": "Revisited Paris: 6322 images, 70 queries, Easy/Medium/Hard (Radenovic et al., CVPR 2018)",
    "oxford5k": "Oxford Buildings: 5062 images, 55 queries (Philbin et al., CVPR 2007)",
    "paris6k": "Paris: 6412 images, 55 queries (Philbin et al., CVPR 2008)",
    "holidays": "INRIA Holidays: 1491 images, 500 queries, rotated upright (Jegou et al., ECCV 2008)",
    "ukbench": "UKBench: 10200 images in groups of 4, every image a query (Nister & Stewenius, CVPR 2006)",
}


class DatasetNotAvailable(RuntimeError):
    """A dataset that is not on this machine and cannot be fetched now (one-sentence message)."""


class DatasetFormatError(ValueError):
    """A dataset folder, ground-truth file or manifest that is malformed; says what and where."""


@dataclass
class RetrievalDataset:
    """A retrieval benchmark, ready for extraction and evaluation.

    images:  database image files (absolute paths), index i is database id i.
    queries: query image files (absolute paths); for Holidays/UKBench these are
             database images themselves (see `query_ids`).
    bboxes:  per query, (x1, y1, x2, y2) in pixels of the original image, or None.
    gnd:     per query a dict with lists of database ids: "easy", "hard", "junk"
             (revisited structure). Datasets with a single positive level
             (Oxford5k, Paris6k, Holidays, UKBench, custom folders with
             "positives") put all positives in "easy" and leave "hard" empty.
    protocol: how to evaluate it (one of PROTOCOLS).
    query_ids: for datasets whose queries are database images (Holidays,
             UKBench), the database id of each query; otherwise None.
    """

    name: str
    root: Path
    images: list[Path]
    queries: list[Path]
    bboxes: list[tuple[float, float, float, float] | None]
    gnd: list[dict]
    protocol: str = "custom"
    query_ids: list[int] | None = None
    citation: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_queries(self) -> int:
        return len(self.queries)

    def gnd_for(self, level: str = "medium") -> list[dict]:
        """Ground truth as {"ok": [...], "junk": [...]} per query for one difficulty.

        The revisited protocol (Radenovic et al., CVPR 2018):
          easy:   ok = easy,        junk = junk + hard
          medium: ok = easy + hard, junk = junk
          hard:   ok = hard,        junk = junk + easy
        """
        from .evaluation import revisited_split

        return revisited_split([{key: list(g.get(key, [])) for key in ("easy", "hard", "junk")}
                                for g in self.gnd], level)


def describe(dataset: RetrievalDataset) -> str:
    """One line: name, database size, number of queries, protocol."""
    kind = " (database images)" if dataset.query_ids is not None else ""
    return (f"{dataset.name}: {len(dataset.images)} database images, {dataset.n_queries} queries{kind}, "
            f"{dataset.protocol} protocol")


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
        course_lib/manifests/, e.g. to fetch from a mirror or a local test server.
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
        return _load_registered(load_manifest(key.lower()), cache, download, progress)
    path = Path(key).expanduser()
    if path.is_dir():
        return load_folder(path)
    if path.exists():
        raise ValueError(f"{key!r} is a file; a dataset folder holds images/ and ground_truth.json")
    raise ValueError(f"unknown dataset {key!r}: choose one of {', '.join(DATASETS)} "
                     f"or give the path of a folder with images/ and ground_truth.json")


def load_manifest(name_or_path: str | os.PathLike) -> dict:
    """The manifest of a registered dataset (course_lib/manifests/<name>.json), or of a given JSON file."""
    text = os.fspath(name_or_path)
    path = Path(text) if text.endswith(".json") else MANIFEST_DIR / f"{text}.json"
    if not path.is_file():
        raise DatasetNotAvailable(f"no manifest {path}: course_lib's data/ folder is missing "
                                  f"(install from a checkout with `pip install -e .`)")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetFormatError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    _validate_manifest(spec, str(path))
    return spec


_MANIFEST_KEYS = ("name", "title", "format", "homepage", "citation", "license", "files", "images")
_FORMATS = ("revisited", "oxford", "holidays", "ukbench")


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
        mini = importlib.import_module("course_lib.mini")
        return (cache / f"mini-v{mini.MINI_VERSION}" / "build_info.json").is_file()
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
        status = ("built" if here else "built on first use") if name == "mini" else (
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
        try:
            if allow_download:
                download(entry["url"], dest, entry["sha256"], entry["size"], mirrors=entry.get("mirrors", ()),
                         trust_file=trust_file, name=entry["name"], progress=progress)
            else:
                check_file(dest, entry["sha256"], trust_file=trust_file, key=entry["url"])
        except ChecksumMismatch as err:
            raise DatasetNotAvailable(f"{spec['name']}: {err}") from None
        except DownloadError as err:
            raise DatasetNotAvailable(f"{spec['name']} is not available: {err}") from None
        if archive_target is not None:
            _extract_archive(spec, entry, dest, archive_target, trust_file)


def _extract_archive(spec: dict, entry: dict, archive: Path, target: Path, trust_file: Path) -> None:
    rotations = spec.get("rotate_clockwise") or {}
    log.info("%s: extracting %s into %s", spec["name"], archive.name, target)
    try:
        extract(archive, target, prepare=_rotate_upright(rotations) if rotations else None,
                record={"sha256": _expected_sha(entry, trust_file.parent), "url": entry["url"]}, replace=True)
    except UnsafeArchiveError:
        raise  # kept on disk for inspection: it is what the server really sent
    except ArchiveError as err:
        # A damaged first download must not stay the trusted reference, nor block the next try.
        TrustStore(trust_file).forget(entry["url"])
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
    reader = {"revisited": _read_revisited, "oxford": _read_oxford,
              "holidays": _read_holidays, "ukbench": _read_ukbench}[spec["format"]]
    dataset = reader(spec, cache)
    dataset.citation = spec["citation"]
    dataset.extra.update(homepage=spec["homepage"], license=spec["license"])
    return dataset


# --------------------------------------------------------------------------------------------------
# Readers of the real datasets' on-disk formats
# --------------------------------------------------------------------------------------------------

def _image_index(spec: dict, cache: Path) -> dict[str, Path]:
    """File stem -> path of every JPEG under the dataset's image folders (archive layouts vary)."""
    index: dict[str, Path] = {}
    for folder in spec["images"]:
        for path in sorted((cache / folder).rglob("*")):
            if path.suffix.lower() in (".jpg", ".jpeg") and not path.name.startswith(".") and path.is_file():
                if path.stem in index:
                    log.warning("%s: %s appears twice; using %s", spec["name"], path.stem, index[path.stem])
                    continue
                index[path.stem] = path
    return index


def _decodes(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # Pillow raises many types for damaged files
        return False


def _known_corrupted(spec: dict, index: dict[str, Path]) -> set[str]:
    """Images the manifest lists as corrupted that are present and indeed do not decode."""
    skipped = set()
    for stem in spec.get("corrupted_images", []):
        if stem in index and not _decodes(index[stem]):
            skipped.add(stem)
        elif stem in index:
            log.info("%s: %s is listed as corrupted but decodes fine; kept", spec["name"], stem)
    if skipped:
        log.info("%s: skipped %d known corrupted images (listed in the manifest): %s",
                 spec["name"], len(skipped), ", ".join(sorted(skipped)))
    return skipped


def _lookup(index: dict[str, Path], stem: str, spec: dict, source: Path) -> Path:
    try:
        return index[stem]
    except KeyError:
        raise DatasetNotAvailable(f"{spec['name']}: image {stem!r} named in {source.name} is missing from "
                                  f"{', '.join(spec['images'])}; delete that folder to download it again") from None


class _GroundTruthUnpickler(pickle.Unpickler):
    """Unpickles only lists, dicts, strings, numbers and numpy arrays: a pickle can run code otherwise."""

    def find_class(self, module, name):
        allowed = _allowed_pickle_globals().get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: a ground-truth file only "
                                         f"needs lists, dicts, strings, numbers and numpy arrays")
        return allowed


def _allowed_pickle_globals() -> dict:
    import codecs

    import numpy as np
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:
        from numpy.core import multiarray, numeric
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode}  # protocol-2 pickles rebuild bytes with it
    for builtins in ("builtins", "__builtin__"):
        allowed.update({(builtins, "set"): set, (builtins, "frozenset"): frozenset})
    for core in ("numpy.core", "numpy._core"):  # pickles name the module of the numpy that wrote them
        allowed[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


def read_gnd_pickle(path: str | os.PathLike) -> dict:
    """The revisited Oxford/Paris ground truth (gnd_r*.pkl), loaded without running any code.

    Returns the publisher's dict: "imlist", "qimlist" (image names without
    extension) and "gnd", one dict per query with "bbx", "easy", "hard", "junk".
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            content = _GroundTruthUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise DatasetFormatError(f"{path}: {err}") from None
    if not isinstance(content, dict) or not {"imlist", "qimlist", "gnd"} <= set(content):
        raise DatasetFormatError(f"{path}: expected a dict with 'imlist', 'qimlist' and 'gnd'")
    if len(content["gnd"]) != len(content["qimlist"]):
        raise DatasetFormatError(f"{path}: {len(content['gnd'])} ground-truth entries for "
                                 f"{len(content['qimlist'])} queries")
    return content


def _read_revisited(spec: dict, cache: Path) -> RetrievalDataset:
    gnd_path = cache / spec["ground_truth"]
    content = read_gnd_pickle(gnd_path)
    index = _image_index(spec, cache)
    skipped = _known_corrupted(spec, index)
    imlist = [str(n) for n in content["imlist"]]
    kept = [i for i, stem in enumerate(imlist) if stem not in skipped]
    new_id = {old: new for new, old in enumerate(kept)}
    images = [_lookup(index, imlist[i], spec, gnd_path) for i in kept]
    queries = [_lookup(index, str(q), spec, gnd_path) for q in content["qimlist"]]
    gnd, bboxes = [], []
    for q, entry in enumerate(content["gnd"]):
        ids = {}
        for level in ("easy", "hard", "junk"):
            values = [int(i) for i in entry.get(level, [])]
            if any(not 0 <= i < len(imlist) for i in values):
                raise DatasetFormatError(f"{gnd_path}: gnd[{q}]['{level}'] holds ids outside 0..{len(imlist) - 1}")
            ids[level] = [new_id[i] for i in values if i in new_id]
        gnd.append(ids)
        bbx = entry.get("bbx")
        if bbx is not None and len(bbx) != 4:
            raise DatasetFormatError(f"{gnd_path}: gnd[{q}]['bbx'] must hold 4 numbers (x1, y1, x2, y2)")
        bboxes.append(tuple(float(v) for v in bbx) if bbx is not None else None)
    notes = [f"skipped {len(skipped)} known corrupted images"] if skipped else []
    return RetrievalDataset(name=spec["name"], root=cache / spec["name"], images=images, queries=queries,
                            bboxes=bboxes, gnd=gnd, protocol="revisited",
                            extra={"query_names": [str(q) for q in content["qimlist"]], "notes": notes})


def _read_name_list(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetNotAvailable(f"ground-truth file {path} is missing; delete {path.parent} to download it again")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _read_oxford(spec: dict, cache: Path) -> RetrievalDataset:
    """The original Oxford/Paris ground truth: <query>_query.txt, _good.txt, _ok.txt, _junk.txt."""
    gt_dir = cache / spec["ground_truth"]
    index = _image_index(spec, cache)
    skipped = _known_corrupted(spec, index)
    names = sorted(stem for stem in index if stem not in skipped)
    db_id = {stem: i for i, stem in enumerate(names)}
    query_files = sorted(gt_dir.rglob("*_query.txt"))
    if not query_files:
        raise DatasetNotAvailable(f"{spec['name']}: no *_query.txt files in {gt_dir}; delete it to download again")

    def ids(path: Path) -> list[int]:
        out = []
        for stem in _read_name_list(path):
            if stem in db_id:
                out.append(db_id[stem])
            elif stem not in skipped:
                raise DatasetFormatError(f"{path}: image {stem!r} is not in the dataset")
        return out

    queries, bboxes, gnd, query_names = [], [], [], []
    for query_file in query_files:
        query_name = query_file.name[:-len("_query.txt")]
        fields = query_file.read_text().split()
        if len(fields) != 5:
            raise DatasetFormatError(f"{query_file}: expected 'image x1 y1 x2 y2', got {' '.join(fields)!r}")
        stem = fields[0].removeprefix("oxc1_")  # Oxford's query files prefix the collection name
        try:
            bbox = tuple(float(v) for v in fields[1:])
        except ValueError:
            raise DatasetFormatError(f"{query_file}: the box must be four numbers, got {fields[1:]}") from None
        prefix = query_file.with_name(query_name)
        positives = ids(Path(f"{prefix}_good.txt")) + ids(Path(f"{prefix}_ok.txt"))
        queries.append(_lookup(index, stem, spec, query_file))
        bboxes.append(bbox)
        gnd.append({"easy": positives, "hard": [], "junk": ids(Path(f"{prefix}_junk.txt"))})
        query_names.append(query_name)
    notes = [f"skipped {len(skipped)} known corrupted images"] if skipped else []
    return RetrievalDataset(name=spec["name"], root=cache / spec["name"], images=[index[n] for n in names],
                            queries=queries, bboxes=bboxes, gnd=gnd, protocol="oxford",
                            extra={"query_names": query_names, "notes": notes})


def _grouped_collection(spec: dict, cache: Path, pattern: str, group_of: Callable[[int], int]):
    """Database images matching `pattern` (one number group), sorted, split into groups."""
    index = _image_index(spec, cache)
    numbered = sorted((int(m.group(1)), stem) for stem in index if (m := re.fullmatch(pattern, stem)))
    if not numbered:
        raise DatasetNotAvailable(f"{spec['name']}: no images in {', '.join(spec['images'])}; "
                                  f"delete that folder to download again")
    groups: dict[int, list[int]] = {}
    for i, (number, _) in enumerate(numbered):
        groups.setdefault(group_of(number), []).append(i)
    return [index[stem] for _, stem in numbered], [stem for _, stem in numbered], list(groups.values())


def _read_holidays(spec: dict, cache: Path) -> RetrievalDataset:
    """INRIA Holidays: images NNNNxx.jpg; each NNNN group's first image (xx = 00) is its query."""
    images, stems, groups = _grouped_collection(spec, cache, r"(\d{6})", lambda number: number // 100)
    query_ids, gnd = [], []
    for members in groups:
        query, others = members[0], members[1:]
        if not stems[query].endswith("00"):
            log.warning("holidays: group %s has no image ending in 00; its first image %s is the query",
                        stems[query][:4], stems[query])
        query_ids.append(query)
        gnd.append({"easy": others, "hard": [], "junk": []})
    present = set(stems)
    rotated = sorted(n for n in spec.get("rotate_clockwise", {}) if Path(n).stem in present)
    return RetrievalDataset(name=spec["name"], root=cache / spec["name"], images=images,
                            queries=[images[q] for q in query_ids], bboxes=[None] * len(query_ids), gnd=gnd,
                            protocol="holidays", query_ids=query_ids,
                            extra={"rotated_upright": rotated, "notes": [f"{len(rotated)} images rotated upright"]})


def _read_ukbench(spec: dict, cache: Path) -> RetrievalDataset:
    """UKBench: ukbenchNNNNN.jpg in groups of 4 consecutive numbers; every image is a query."""
    images, stems, groups = _grouped_collection(spec, cache, r"ukbench(\d{5})", lambda number: number // 4)
    incomplete = [stems[g[0]] for g in groups if len(g) != 4]
    if incomplete:
        raise DatasetNotAvailable(f"ukbench: the group of {incomplete[0]} does not have 4 images; "
                                  f"delete {', '.join(spec['images'])} to download again")
    gnd = [None] * len(images)
    for members in groups:
        for i in members:
            gnd[i] = {"easy": [j for j in members if j != i], "hard": [], "junk": []}
    return RetrievalDataset(name=spec["name"], root=cache / spec["name"], images=images, queries=list(images),
                            bboxes=[None] * len(images), gnd=gnd, protocol="ukbench",
                            query_ids=list(range(len(images))))


# --------------------------------------------------------------------------------------------------
# The embedded mini benchmark
# --------------------------------------------------------------------------------------------------

def _load_mini(cache: Path) -> RetrievalDataset:
    """Build the mini benchmark once (course_lib.mini) into the cache, then load it as a folder."""
    mini = importlib.import_module("course_lib.mini")  # imported late: it pulls in image-processing code
    target = cache / f"mini-v{mini.MINI_VERSION}"
    mini.build_mini(target)  # returns at once when a complete build is already there
    return load_folder(target, name="mini", protocol="revisited")


# --------------------------------------------------------------------------------------------------
# Custom folders: images/, optional queries/, ground_truth.json
# --------------------------------------------------------------------------------------------------

_QUERY_KEYS = ("query", "name", "bbox", "positives", "easy", "hard", "junk")


def _list_images(folder: Path, under: Path) -> list[str]:
    """Image files below `under`, as sorted POSIX paths relative to `folder`; hidden entries skipped."""
    found = []
    for current, dirs, files in os.walk(under):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file_name in files:
            if not file_name.startswith(".") and file_name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(PurePosixPath(Path(current, file_name).relative_to(folder)).as_posix())
    return sorted(found)


class _GroundTruthReader:
    """Validates ground_truth.json entry by entry; every error names the file and the JSON location."""

    def __init__(self, folder: Path, gt_path: Path, database: list[str]):
        self.folder, self.label = folder, str(gt_path)
        self.db_id = {rel: i for i, rel in enumerate(database)}

    def fail(self, where: str, message: str):
        raise DatasetFormatError(f"{self.label}: {where}: {message}")

    def relative_path(self, value, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"expected a path relative to the dataset folder, got {value!r}")
        parts = PurePosixPath(value.replace("\\", "/")).parts
        if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
            self.fail(where, f"{value!r} must be relative to the dataset folder")
        if ".." in parts:
            self.fail(where, f"{value!r} points outside the dataset folder")
        return PurePosixPath(*[p for p in parts if p != "."]).as_posix()

    def database_id(self, value, where: str) -> int:
        rel = self.relative_path(value, where)
        if rel in self.db_id:
            return self.db_id[rel]
        path = self.folder / rel
        if not path.exists():
            self.fail(where, f"{value!r} does not exist")
        if PurePosixPath(rel).parts[0] != "images":
            self.fail(where, f"{value!r} is not in images/ (positives and junk must be database images)")
        self.fail(where, f"{value!r} is not an image file ({', '.join(IMAGE_EXTENSIONS)})")

    def query_path(self, value, where: str) -> tuple[str, tuple[int, int]]:
        """The query's relative path and its (width, height), read from the file header."""
        rel = self.relative_path(value, where)
        if not (self.folder / rel).is_file():
            self.fail(where, f"{value!r} does not exist")
        if not rel.lower().endswith(IMAGE_EXTENSIONS):
            self.fail(where, f"{value!r} is not an image file ({', '.join(IMAGE_EXTENSIONS)})")
        from .images import ImageLoadError, image_size

        try:
            return rel, image_size(self.folder / rel)
        except ImageLoadError as err:
            self.fail(where, str(err))

    def bbox(self, value, where: str, rel: str, size: tuple[int, int]):
        if value is None:
            return None
        if (not isinstance(value, list) or len(value) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in value)):
            self.fail(where, f"expected [x1, y1, x2, y2] (4 numbers) or no bbox, got {json.dumps(value)}")
        x1, y1, x2, y2 = (float(v) for v in value)
        if x2 <= x1 or y2 <= y1:
            self.fail(where, f"{json.dumps(value)} is empty: it needs x2 > x1 and y2 > y1")
        width, height = size
        if x1 >= width or y1 >= height or x2 <= 0 or y2 <= 0:
            self.fail(where, f"{json.dumps(value)} lies outside the {width}x{height} image {rel}")
        return (x1, y1, x2, y2)

    def id_list(self, entry: dict, key: str, where: str) -> list[int]:
        values = entry.get(key, [])
        if not isinstance(values, list):
            self.fail(f"{where}.{key}", f"expected a list of image paths, got {json.dumps(values)}")
        ids, first_at = [], {}
        for i, value in enumerate(values):
            image_id = self.database_id(value, f"{where}.{key}[{i}]")
            if image_id in first_at:
                self.fail(f"{where}.{key}[{i}]", f"{value!r} is listed twice (also {key}[{first_at[image_id]}])")
            first_at[image_id] = i
            ids.append(image_id)
        return ids


def load_folder(folder: str | os.PathLike, name: str | None = None, protocol: str | None = None) -> RetrievalDataset:
    """A custom dataset folder: images/ (the database), optional queries/, ground_truth.json.

    ground_truth.json: {"queries": [{"query": "queries/a.jpg", "bbox": [x1, y1, x2, y2],
    "positives": ["images/b.jpg", ...], "junk": [...]}, ...]}, paths relative to the
    folder; "bbox", "junk" and "name" (a label for the query) are optional. "easy"/"hard"
    lists instead of "positives" select the revisited protocol. A query may be a
    database image (images/...): then it is left out of its own results, as in
    Holidays. Every problem raises DatasetFormatError naming the file, the JSON
    location and what is wrong; a query without positives is allowed, with a warning.
    """
    folder = Path(folder).expanduser()
    gt_path = folder / "ground_truth.json"
    if not folder.is_dir():
        raise DatasetFormatError(f"{folder}: no such folder")
    if not (folder / "images").is_dir():
        raise DatasetFormatError(f"{folder}: no images/ folder (the database images go there)")
    if not gt_path.is_file():
        raise DatasetFormatError(f"{folder}: no ground_truth.json (see 'Bring your own dataset' in the README)")
    database = _list_images(folder, folder / "images")
    if not database:
        raise DatasetFormatError(f"{folder / 'images'}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    try:
        data = json.loads(gt_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetFormatError(
            f"{gt_path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except UnicodeDecodeError:
        raise DatasetFormatError(f"{gt_path}: not UTF-8 text") from None
    if not isinstance(data, dict) or not isinstance(data.get("queries"), list):
        raise DatasetFormatError(f"{gt_path}: expected an object with a \"queries\" list at the top level")
    if not data["queries"]:
        raise DatasetFormatError(f"{gt_path}: \"queries\" is empty")

    reader = _GroundTruthReader(folder, gt_path, database)
    queries, query_names, bboxes, gnd, query_ids = [], [], [], [], []
    style = None  # "positives" or "easy/hard", fixed by the first query
    query_in_database = None
    seen: dict[tuple, int] = {}
    for q, entry in enumerate(data["queries"]):
        where = f"queries[{q}]"
        if not isinstance(entry, dict):
            reader.fail(where, f"expected an object with \"query\" and \"positives\", got {json.dumps(entry)}")
        unknown = sorted(set(entry) - set(_QUERY_KEYS))
        if unknown:
            reader.fail(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(_QUERY_KEYS)})")
        if "query" not in entry:
            reader.fail(where, "missing \"query\"")
        rel, size = reader.query_path(entry["query"], f"{where}.query")
        label = entry.get("name", PurePosixPath(rel).stem)
        if not isinstance(label, str):
            reader.fail(f"{where}.name", f"expected a string, got {json.dumps(label)}")
        entry_style = "easy/hard" if ("easy" in entry or "hard" in entry) else "positives"
        if entry_style == "easy/hard" and "positives" in entry:
            reader.fail(where, "give either \"positives\" or \"easy\"/\"hard\", not both")
        if entry_style == "positives" and "positives" not in entry:
            reader.fail(where, "missing \"positives\" (or \"easy\"/\"hard\")")
        if style is None:
            style = entry_style
        elif entry_style != style:
            reader.fail(where, f"uses \"{entry_style}\" but queries[0] uses \"{style}\"; use one style per file")
        in_database = rel in reader.db_id
        if query_in_database is None:
            query_in_database = in_database
        elif in_database != query_in_database:
            kind = "a database image (in images/)" if in_database else "not in images/"
            reader.fail(f"{where}.query", f"{rel!r} is {kind}, unlike queries[0]; "
                                          f"the queries must all be database images, or none")
        box = reader.bbox(entry.get("bbox"), f"{where}.bbox", rel, size)
        signature = (rel, box)
        if signature in seen:
            reader.fail(where, f"repeats queries[{seen[signature]}] (same image and box)")
        seen[signature] = q

        levels = ("positives", "junk") if style == "positives" else ("easy", "hard", "junk")
        lists = {key: reader.id_list(entry, key, where) for key in levels}
        owner: dict[int, str] = {}
        for key in levels:
            for i, image_id in enumerate(lists[key]):
                if image_id in owner:
                    reader.fail(f"{where}.{key}[{i}]", f"{database[image_id]!r} is also in {owner[image_id]}")
                owner[image_id] = key
        if in_database:
            own = reader.db_id[rel]
            for key in levels[:-1]:
                if own in lists[key]:
                    log.warning("%s: %s.%s lists the query itself; ignored (a query never counts as its own "
                                "result)", gt_path, where, key)
                    lists[key].remove(own)
            query_ids.append(own)
        easy = lists["positives"] if style == "positives" else lists["easy"]
        hard = [] if style == "positives" else lists["hard"]
        if not easy and not hard:
            log.warning("%s: %s (%s) has no positives; it is left out of the mean AP", gt_path, where, rel)
        queries.append((folder / rel).resolve())
        query_names.append(label)
        bboxes.append(box)
        gnd.append({"easy": easy, "hard": hard, "junk": lists["junk"]})

    if (folder / "queries").is_dir():
        used = {Path(p).resolve() for p in queries}
        unused = [p for p in _list_images(folder, folder / "queries") if (folder / p).resolve() not in used]
        if unused:
            log.warning("%s: %d images in queries/ are not used by any query (first: %s)",
                        gt_path, len(unused), unused[0])
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    citation = data.get("citation", "")
    return RetrievalDataset(
        name=name or folder.resolve().name, root=folder.resolve(),
        images=[(folder / rel).resolve() for rel in database], queries=queries, bboxes=bboxes, gnd=gnd,
        protocol=protocol or ("revisited" if style == "easy/hard" else "custom"),
        query_ids=query_ids if query_in_database else None,
        citation=citation if isinstance(citation, str) else "",
        extra={"ground_truth": str(gt_path), "query_names": query_names})
