"""Detection data in the COCO format that a student supplies: a folder with images/ and annotations.json
(images, annotations with [x, y, width, height] boxes, categories), checked entry by entry with one-line
errors, read as detection scenes; and the offline scenes written out in that format (their boxes as COCO
annotations, which COCO AP scores against too)."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..files import atomic_write, write_json
from ..images import image_size, load_image
from .scenes import Scene

ANNOTATIONS = "annotations.json"
IMAGES = "images"


class CocoFormatError(ValueError):
    """A COCO folder that cannot be used: the message names the file and the bad entry."""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entries(data: dict, key: str, where: Path) -> list[dict]:
    entries = data.get(key)
    if not isinstance(entries, list):
        raise CocoFormatError(f"{where}: needs a list \"{key}\" at the top level")
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise CocoFormatError(f"{where}: {key}[{n}] is not an object")
        if not _integer(entry.get("id")):
            raise CocoFormatError(f"{where}: {key}[{n}] has no integer \"id\"")
    ids = [entry["id"] for entry in entries]
    if len(set(ids)) != len(ids):
        repeated = next(i for i in ids if ids.count(i) > 1)
        raise CocoFormatError(f"{where}: {key} repeat the id {repeated}")
    return entries


def read_coco(folder: str | Path) -> tuple[list[dict], list[str]]:
    """Check a COCO folder and return (per image {"path", "size", "boxes" (n, 4) x1 y1 x2 y2, "labels"
    (n,) 1..K}, class names in category-id order). Crowd annotations (iscrowd = 1) are left out."""
    folder = Path(folder).expanduser()
    where = folder / ANNOTATIONS
    if not folder.is_dir():
        raise CocoFormatError(f"{folder}: not a folder (a COCO folder holds {IMAGES}/ and {ANNOTATIONS})")
    if not where.is_file():
        raise CocoFormatError(f"{folder}: no {ANNOTATIONS} (a COCO folder holds {IMAGES}/ and {ANNOTATIONS})")
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CocoFormatError(f"{where}: not UTF-8 text") from None
    except ValueError as err:
        raise CocoFormatError(f"{where}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise CocoFormatError(f"{where}: the top level must be an object with images, annotations, categories")
    images = _entries(data, "images", where)
    annotations = _entries(data, "annotations", where)
    categories = _entries(data, "categories", where)
    if not categories:
        raise CocoFormatError(f"{where}: \"categories\" is empty; name at least one class")
    if not images:
        raise CocoFormatError(f"{where}: \"images\" is empty")
    for n, category in enumerate(categories):
        if not isinstance(category.get("name"), str) or not category["name"].strip():
            raise CocoFormatError(f"{where}: categories[{n}] (id {category['id']}) has no \"name\"")
    ordered = sorted(categories, key=lambda c: c["id"])
    label_of = {c["id"]: label for label, c in enumerate(ordered, start=1)}

    items, item_of = [], {}
    for n, entry in enumerate(images):
        name = entry.get("file_name")
        if not isinstance(name, str) or not name:
            raise CocoFormatError(f"{where}: images[{n}] (id {entry['id']}) has no \"file_name\"")
        path = folder / IMAGES / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise CocoFormatError(f"{where}: images[{n}] file_name {name!r} must lie inside {IMAGES}/")
        if not path.is_file():
            raise CocoFormatError(f"{where}: images[{n}] file_name {name!r}: no such file in {IMAGES}/")
        size = image_size(path)  # an unreadable image is an ImageLoadError naming the file
        stated = (entry.get("width"), entry.get("height"))
        if stated != (None, None) and tuple(stated) != size:
            raise CocoFormatError(f"{where}: images[{n}] ({name}) says {stated[0]}x{stated[1]} but the file is "
                                  f"{size[0]}x{size[1]}")
        item_of[entry["id"]] = len(items)
        items.append({"path": path, "size": size, "boxes": [], "labels": []})

    for n, entry in enumerate(annotations):
        about = f"annotations[{n}] (id {entry['id']})"
        if entry.get("image_id") not in item_of:
            raise CocoFormatError(f"{where}: {about} names image_id {entry.get('image_id')!r}, which is not in images")
        if entry.get("category_id") not in label_of:
            raise CocoFormatError(f"{where}: {about} names category_id {entry.get('category_id')!r}, which is not "
                                  f"in categories")
        box = entry.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
            raise CocoFormatError(f"{where}: {about} bbox must be four numbers [x, y, width, height], got {box!r}")
        x, y, w, h = box
        item = items[item_of[entry["image_id"]]]
        width, height = item["size"]
        if w <= 0 or h <= 0:
            raise CocoFormatError(f"{where}: {about} bbox {box} has no area (width and height must be > 0)")
        if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
            raise CocoFormatError(f"{where}: {about} bbox {box} leaves the {width}x{height} image "
                                  f"{item['path'].name}")
        if entry.get("iscrowd", 0):
            continue
        item["boxes"].append([max(0.0, x), max(0.0, y), min(width, x + w), min(height, y + h)])
        item["labels"].append(label_of[entry["category_id"]])
    if not any(item["boxes"] for item in items):
        raise CocoFormatError(f"{where}: no annotation boxes any object; there is nothing to learn")
    for item in items:
        item["boxes"] = np.asarray(item["boxes"], dtype=np.float32).reshape(-1, 4)
        item["labels"] = np.asarray(item["labels"], dtype=np.int64)
    return items, [c["name"] for c in ordered]


def load_coco_scenes(folder: str | Path, max_side: int | None = 512) -> tuple[list[Scene], list[str]]:
    """The images of a COCO folder as detection scenes (shrunk to max_side, boxes scaled with them)
    and the class names (label k is the k-th category by id; 0 is background)."""
    items, names = read_coco(folder)
    found = []
    for item in items:
        image = load_image(item["path"], max_side=max_side)
        scale = np.array([image.width / item["size"][0], image.height / item["size"][1]] * 2, dtype=np.float32)
        found.append(Scene(image, item["boxes"] * scale, item["labels"], item["path"].name))
    return found, names


def box_annotations(scenes: Sequence[Scene]) -> list[dict]:
    """The scenes' boxes as COCO annotation entries: ids and image ids from 1 in scene order, [x, y, width,
    height] boxes in pixels."""
    annotations = []
    for image_id, scene in enumerate(scenes, start=1):
        for (x1, y1, x2, y2), label in zip(scene.boxes.tolist(), scene.labels.tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    return annotations


def write_coco(scenes: Sequence[Scene], folder: str | Path, class_names: Sequence[str]) -> Path:
    """Write scenes as a COCO folder (images/scene_0000.png ..., annotations.json): the format
    `train-detector` reads, e.g. to see an example or to train from the offline scenes elsewhere."""
    folder = Path(folder).expanduser()
    (folder / IMAGES).mkdir(parents=True, exist_ok=True)
    images = []
    for n, scene in enumerate(scenes):
        name = f"scene_{n:04d}.png"
        with atomic_write(folder / IMAGES / name) as f:
            scene.image.save(f, format="PNG")
        images.append({"id": n + 1, "file_name": name, "width": scene.image.width, "height": scene.image.height})
    annotations = box_annotations(scenes)
    write_json(folder / ANNOTATIONS, {"images": images, "annotations": annotations,
                                      "categories": [{"id": k, "name": name}
                                                     for k, name in enumerate(class_names, start=1)]})
    return folder
