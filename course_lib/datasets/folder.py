"""Datasets in the documented folder format: images/, optional queries/, ground_truth.json ("bring your own")."""
from __future__ import annotations

import json
import logging
import math
import os
import re
import stat
from pathlib import Path, PurePosixPath

from .base import IMAGE_EXTENSIONS, PROTOCOLS, DatasetFormatError, RetrievalDataset

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# Custom folders: images/, optional queries/, ground_truth.json
# --------------------------------------------------------------------------------------------------

_QUERY_KEYS = ("query", "name", "bbox", "positives", "easy", "hard", "junk", "boxes")


def _list_images(folder: Path, under: Path) -> list[str]:
    """Image files below `under`, as sorted POSIX paths relative to `folder`; hidden entries skipped."""
    found = []
    for current, dirs, files in os.walk(under):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file_name in files:
            if not file_name.startswith(".") and file_name.lower().endswith(IMAGE_EXTENSIONS):
                path = Path(current, file_name)
                relative = PurePosixPath(path.relative_to(folder)).as_posix()
                if _regular_file(path):
                    found.append(relative)
                else:  # a FIFO would block the decoder, a device never ends, a broken link has no image
                    log.warning("%s: skipped %s: not a regular file (a pipe, device, broken link or link loop)",
                                folder, relative)
    return sorted(found)


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # missing target, link loop, no permission
        return False


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
        from ..images import ImageLoadError, image_size

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
        # A box past the border is clipped silently when the image is loaded: the annotation is wrong
        # somewhere (swapped width and height, another image's box, a resized copy), so it is said here.
        edges = (("x1", value[0], "<", 0), ("y1", value[1], "<", 0),
                 ("x2", value[2], ">", width), ("y2", value[3], ">", height))
        over = [f"{name} = {json.dumps(given)} {sign} {limit}" for name, given, sign, limit in edges
                if (given < limit if sign == "<" else given > limit)]
        if over:
            self.fail(where, f"{json.dumps(value)} reaches beyond the {width}x{height} image {rel} ({over[0]})")
        return (x1, y1, x2, y2)

    def positive_boxes(self, value, where: str, positives: set[int]) -> dict[int, tuple]:
        """The optional {"images/x.jpg": [x1, y1, x2, y2]} of a query: its object in each positive listed."""
        if not isinstance(value, dict):
            self.fail(where, f"expected an object mapping positive images to [x1, y1, x2, y2], got {json.dumps(value)}")
        from ..images import ImageLoadError, image_size

        boxes = {}
        for path, box in value.items():
            image_id = self.database_id(path, f"{where}[{json.dumps(path)}]")
            if image_id not in positives:
                self.fail(f"{where}[{json.dumps(path)}]", f"{path!r} is not a positive of this query")
            try:
                size = image_size(self.folder / path)
            except ImageLoadError as err:
                self.fail(f"{where}[{json.dumps(path)}]", str(err))
            boxes[image_id] = self.bbox(box, f"{where}[{json.dumps(path)}]", path, size)
            if boxes[image_id] is None:
                self.fail(f"{where}[{json.dumps(path)}]", "expected [x1, y1, x2, y2], got null")
        return boxes

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
    folder; "bbox", "junk", "name" (a label for the query) and "boxes" ({"images/b.jpg":
    [x1, y1, x2, y2], ...}: the object in some of its positives) are optional. "easy"/"hard"
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
    except RecursionError:  # the parser recurses per level: bounded by Python's stack, a clear limit
        raise DatasetFormatError(f"{gt_path}: JSON nested too deeply (ground truth needs three levels)") from None
    if not isinstance(data, dict) or not isinstance(data.get("queries"), list):
        raise DatasetFormatError(f"{gt_path}: expected an object with a \"queries\" list at the top level")
    if not data["queries"]:
        raise DatasetFormatError(f"{gt_path}: \"queries\" is empty")

    reader = _GroundTruthReader(folder, gt_path, database)
    queries, query_names, bboxes, gnd, query_ids, positive_boxes = [], [], [], [], [], []
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
        positive_boxes.append(reader.positive_boxes(entry["boxes"], f"{where}.boxes", set(easy) | set(hard))
                              if "boxes" in entry else {})

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
        extra={"ground_truth": str(gt_path), "query_names": query_names},
        positive_boxes=positive_boxes if any(positive_boxes) else None)


# Decoding while checking reduces to this side first, as evaluate does: every byte is still decoded
# (a truncated file fails), but a 20-megapixel photo never fills memory.
_DECODE_CHECK_SIDE = 256


def check_images(paths, decode: bool = False, progress: bool = True) -> None:
    """Open every image file in `paths`; raise ImageLoadError naming the first that fails and counting the rest.

    By default only each header is read (size and orientation: well under a millisecond a file), which is
    where a file that is no image at all fails: text, an empty file, a web page saved as .jpg. With
    `decode`, all pixel data is decoded the way `evaluate` decodes it, which also finds truncated or
    corrupt files whose header is whole (a few milliseconds a photo).
    """
    from tqdm.auto import tqdm

    from ..images import ImageLoadError, image_size, load_image

    failures = []
    for path in tqdm(paths, desc="decoding images" if decode else "reading image headers", unit="img",
                     disable=not progress):
        try:
            load_image(path, max_side=_DECODE_CHECK_SIDE) if decode else image_size(path)
        except ImageLoadError as err:
            failures.append(str(err))
    if failures:
        more = f"; {len(failures) - 1} more images fail the same way" if len(failures) > 1 else ""
        raise ImageLoadError(f"{failures[0]}{more}")
