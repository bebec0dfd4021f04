"""Readers of the real benchmarks' published layouts: revisited Oxford/Paris, Oxford/Paris, Holidays, UKBench."""
from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path
from typing import Callable

from .base import DatasetFormatError, DatasetNotAvailable, RetrievalDataset

log = logging.getLogger(__name__)

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


def read_revisited(spec: dict, cache: Path) -> RetrievalDataset:
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


def read_oxford(spec: dict, cache: Path) -> RetrievalDataset:
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


def read_holidays(spec: dict, cache: Path) -> RetrievalDataset:
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


def read_ukbench(spec: dict, cache: Path) -> RetrievalDataset:
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




def read_distractors(spec: dict, cache: Path) -> RetrievalDataset:
    """A distractor set (R1M): database images only, in the order of the published image list.

    List lines are paths under jpg/, with or without ".jpg"; each archive was extracted into its own
    folder (spec["images"]), so each line is looked up in all of them (a leading "jpg/" inside an
    archive is allowed)."""
    list_path = cache / spec["image_list"]
    names = [line.strip() for line in list_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    found: dict[str, Path] = {}
    for folder in spec["images"]:
        base = cache / folder
        for path in base.rglob("*.jpg"):
            relative = path.relative_to(base).as_posix()
            found.setdefault(relative.removeprefix("jpg/"), path)
    images, missing = [], []
    for name in names:
        path = found.get(name if name.lower().endswith(".jpg") else f"{name}.jpg")
        (images if path is not None else missing).append(path if path is not None else name)
    if missing:
        raise DatasetNotAvailable(f"{spec['name']}: {len(missing)} images of {list_path.name} are not in the extracted "
                                  f"archives (first: {missing[0]}); delete {cache / spec['name']} to download again")
    return RetrievalDataset(name=spec["name"], root=cache / spec["name"], images=images, queries=[], bboxes=[],
                            gnd=[], protocol="custom", extra={"notes": ["distractors only: no queries"]})
