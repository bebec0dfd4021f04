"""Writing the mini benchmark's folder: rendered views and queries, ground truth, how each view was made, credits."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from .labels import box_in_view, label, visibility
from .objects import OBJECTS
from .plans import mild_lighting, plan_database, query_scale
from .render import jpeg_bytes, relight, render
from .sources import MINI_VERSION, SOURCES, SourcePhoto, load_source_photos, sources_markdown
from .staging import build_once, build_record_matches
from .views import View


def build_mini(target: str | Path, seed: int = 0) -> Path:
    """Build the mini benchmark into the folder `target` (created) and return it.

    Writes images/ (database JPEGs), queries/ (query JPEGs), ground_truth.json
    (easy/hard/junk per query, query boxes, the object's box in every positive view, sources),
    views.json (how each database image was made), SOURCES.md (origins and licenses) and build_info.json. The
    folder appears complete or not at all: it is built next to `target` and renamed.
    An existing complete build of the same version and seed is returned as is; any
    other existing folder is left alone and reported.
    """
    return build_once(target, lambda folder: _write_benchmark(folder, seed),
                      lambda folder: build_record_matches(folder, mini_version=MINI_VERSION, seed=seed),
                      f"a mini version {MINI_VERSION} build with seed {seed}")


def _write_benchmark(folder: Path, seed: int) -> None:
    photos = load_source_photos()
    (folder / "images").mkdir()
    (folder / "queries").mkdir()

    views = plan_database(photos, seed)
    names = _database_names(views, seed)
    render_rng = np.random.default_rng([seed, 10_000])
    view_records = {}
    for view, name in zip(views, names):
        image = render(view, photos, render_rng)
        (folder / name).write_bytes(jpeg_bytes(image, view.jpeg_quality))
        view_records[name] = _describe_view(view)

    queries = []
    for index, obj in enumerate(OBJECTS):
        rng = np.random.default_rng([seed, 20_000 + index])
        photo = photos[obj.query_photo]
        scale = query_scale(photo)
        size = (round(photo.width * scale), round(photo.height * scale))
        image = relight(photo.resize(size, Image.Resampling.LANCZOS) if scale < 1 else photo,
                        mild_lighting(rng), rng)
        query_name = f"queries/q{index:02d}.jpg"
        (folder / query_name).write_bytes(jpeg_bytes(image, 92))
        x1, y1, x2, y2 = obj.boxes[obj.query_photo]
        bbox = [math.floor(x1 * scale), math.floor(y1 * scale),
                min(size[0], math.ceil(x2 * scale)), min(size[1], math.ceil(y2 * scale))]
        query_box_size = ((x2 - x1) * scale, (y2 - y1) * scale)
        levels: dict[str, list[str]] = {"easy": [], "hard": [], "junk": []}
        boxes: dict[str, list[float]] = {}
        for view, name in zip(views, names):
            box = obj.boxes.get(view.photo)
            if box is None:
                continue
            level = label(view, visibility(view, box, query_box_size))
            if level is not None:
                levels[level].append(name)
            if level in ("easy", "hard"):
                boxes[name] = box_in_view(view, box)
        queries.append({"query": query_name, "name": obj.name, "bbox": bbox,
                        **{level: sorted(paths) for level, paths in levels.items()},
                        "boxes": dict(sorted(boxes.items()))})

    used = {view.photo for view in views} | {v.occluder.photo for v in views if v.occluder} | \
        {obj.query_photo for obj in OBJECTS}
    sources = [_source_record(s) for s in SOURCES if s.key in used]
    write_dataset_json(folder / "ground_truth.json", {"queries": queries, "sources": sources})
    write_dataset_json(folder / "views.json", view_records)
    (folder / "SOURCES.md").write_text(sources_markdown([s for s in SOURCES if s.key in used]))
    write_dataset_json(folder / "build_info.json", {"mini_version": MINI_VERSION, "seed": seed,
                                                    "queries": len(queries), "database": len(views)})


def _database_names(views: list[View], seed: int) -> list[str]:
    """images/<photo>_<nnn>.jpg, numbered in a seeded random order so that a file's
    number tells nothing about why it was made."""
    order = np.random.default_rng([seed, 30_000]).permutation(len(views))
    counters: dict[str, int] = {}
    names = [""] * len(views)
    for i in order:
        photo = views[i].photo
        counters[photo] = counters.get(photo, 0) + 1
        names[i] = f"images/{photo}_{counters[photo]:03d}.jpg"
    return names


def _describe_view(view: View) -> dict:
    record = {"photo": view.photo, "made_for": view.made_for, "recipe": view.recipe,
              "size": list(view.size), "rotation_deg": round(float(view.rotation), 1),
              "perspective": round(float(view.perspective), 2), "lighting": view.lighting.name,
              "jpeg_quality": view.jpeg_quality,
              "window": [[round(float(x), 1), round(float(y), 1)] for x, y in view.quad]}
    if view.occluder is not None:
        record["occluded_by"] = {"photo": view.occluder.photo, "rect": list(view.occluder.rect)}
    return record


def _source_record(source: SourcePhoto) -> dict:
    return {"key": source.key, "package": source.distribution, "path": source.path, "title": source.title,
            "credit": source.credit, "license": source.license, "documented_in": source.documented_in,
            "sha256": source.sha256}


def write_dataset_json(path: Path, payload) -> None:
    """A JSON file of a built dataset folder: indented by one space, UTF-8 text kept as it is."""
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
