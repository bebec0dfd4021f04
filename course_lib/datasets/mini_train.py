"""The offline training set `mini-train`: views of objects on real photographs that `mini` never uses.

Built like `mini` (same view generator: windows, perspective, scale, occlusion, lighting),
from other photographs shipped in pip wheels, so fine-tuning never sees an evaluation photo.

How it is made
--------------
Each training photo is cut into a grid of cells; the middle of each cell is one *object*
(a face, a stair rail, a patch of cells under a microscope, a line of handwriting ...).
A query image is a crop around the object; the database holds eight views of each
object made by `mini`'s planners (four near views, strong perspective, a change of scale,
heavy occlusion by a patch of another training photo, strong lighting). Every view is
labelled against every object of its photo with `mini`'s rule (easy / hard / junk /
negative), so a view that also shows a neighbouring cell is labelled for it too.
Whole photos are split into train and validation (`VALIDATION_PHOTOS`), so validation
objects are never seen in training, not even at the edge of a view.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..images import load_image
from .base import RetrievalDataset
from .folder import load_folder
from .mini import (Box, ObjectOnPhoto, SourcePhoto, View, build_once, build_record_matches, fit_inside, jpeg_bytes,
                   label, mild_lighting, plan_easy, plan_lighting, plan_occlusion, plan_perspective, plan_scale, render,
                   sources_markdown, view_size, visibility, window, write_dataset_json)

MINI_TRAIN_VERSION = 1
QUERY_LONG_SIDE = 320       # longer side of a query crop
QUERY_CONTEXT = 1.15        # a query crop is the object's box grown by this factor
CELL_FILL = 0.8             # an object is the central 80% (per side) of its grid cell
VALIDATION_PHOTOS = ("ascent", "page")

_SKIMAGE_DOC = "docstring of skimage.data.{}() (scikit-image)"
_PYWT_DOC = "docstring of pywt.data.{}() (PyWavelets)"
_MAHOTAS = "mahotas/demos/data (mahotas, MIT-licensed wheel)"

SOURCES: tuple[SourcePhoto, ...] = (
    SourcePhoto("aero", "PyWavelets", "pywt/data/aero.npz", "Aerial photograph (grey, 512 x 512)",
                "PyWavelets sample data (photographer not stated)",
                "Not stated by PyWavelets; shipped in its MIT-licensed wheel", _PYWT_DOC.format("aero"),
                "df862635798bac94226b8928f224da8cef8b0d00492c1fdf48fac6dfaf97a94b"),
    SourcePhoto("ascent", "PyWavelets", "pywt/data/ascent.npz", "People climbing an outdoor staircase (grey)",
                "derived from accent-to-the-top.jpg, public-domain-image.com (as PyWavelets states)",
                "Public domain (as the source site states)", _PYWT_DOC.format("ascent"),
                "a6d56bc8e96571d6124f34cedeba49f1d3599507f6c890ad9ba538544454e8f7"),
    SourcePhoto("luispedro", "mahotas", "mahotas/demos/data/luispedro.jpg", "Portrait of Luis Pedro Coelho",
                "Luis Pedro Coelho (author of mahotas)",
                "Not stated by mahotas; shipped in its MIT-licensed wheel", _MAHOTAS,
                "27e7af47501a4e9a06e4d8bd8b834bd773fe7b187baef2f47e120c663524bed1"),
    SourcePhoto("nuclear", "mahotas", "mahotas/demos/data/nuclear.png",
                "Fluorescence micrograph of cell nuclei", "mahotas demo data (Coelho et al.)",
                "Not stated by mahotas; shipped in its MIT-licensed wheel", _MAHOTAS,
                "c0d3fc389d90a90118b43b585cd5134a560a7fcadb7b46825fc7845321755e27"),
    SourcePhoto("cell", "scikit-image", "skimage/data/cell.png", "Cell floating in saline (phase image)",
                "scikit-image sample data (qpformat)", "CC0 (public domain dedication)",
                _SKIMAGE_DOC.format("cell"),
                "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515"),
    SourcePhoto("text", "scikit-image", "skimage/data/text.png", "Handwritten text on paper (grey)",
                "Wikipedia File:Corner.png", "Public domain (no known copyright restrictions)",
                _SKIMAGE_DOC.format("text"),
                "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1"),
    SourcePhoto("page", "scikit-image", "skimage/data/page.png", "Photographed page of printed text",
                "scikit-image sample data (photographer not stated)",
                "Not stated by scikit-image; shipped in its BSD-3-Clause wheel", _SKIMAGE_DOC.format("page"),
                "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"),
)

# How each photo is cut into objects: (columns, rows) of the grid.
GRIDS: dict[str, tuple[int, int]] = {"aero": (2, 2), "ascent": (2, 2), "luispedro": (1, 2), "nuclear": (3, 2),
                                     "cell": (2, 2), "text": (3, 1), "page": (2, 1)}


def load_photo(source: SourcePhoto) -> Image.Image:
    """One training photo as RGB, read from its installed wheel (grey arrays in .npz files too)."""
    path = source.locate()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != source.sha256:
        warnings.warn(f"mini-train: {source.path} in the installed {source.distribution} differs from the "
                      f"photo version {MINI_TRAIN_VERSION} was made from", stacklevel=2)
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            pixels = arrays[arrays.files[0]]
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")
    return load_image(path)


def grid_objects(photo: str, size: tuple[int, int]) -> list[tuple[str, Box]]:
    """The objects of one photo: (name, box) for the middle of every grid cell."""
    cols, rows = GRIDS[photo]
    width, height = size
    cell_w, cell_h = width / cols, height / rows
    margin_w, margin_h = cell_w * (1 - CELL_FILL) / 2, cell_h * (1 - CELL_FILL) / 2
    objects = []
    for r in range(rows):
        for c in range(cols):
            box = (round(c * cell_w + margin_w), round(r * cell_h + margin_h),
                   round((c + 1) * cell_w - margin_w), round((r + 1) * cell_h - margin_h))
            objects.append((f"{photo} r{r}c{c}", box))
    return objects


def _query_view(target: ObjectOnPhoto, name: str, rng) -> View:
    cx, cy = target.centre
    bw, bh = target.extent
    quad = fit_inside(window((cx, cy), bw * QUERY_CONTEXT, bh * QUERY_CONTEXT), *target.photo_size)
    return View(target.photo, quad, view_size(quad, QUERY_LONG_SIDE), "query crop", name,
                lighting=mild_lighting(rng), jpeg_quality=92)


def plan(photos: dict[str, Image.Image], seed: int):
    """(objects, query views, database views): everything needed to render and label the set."""
    sizes = {key: img.size for key, img in photos.items()}
    objects = [(photo, name, box) for photo in GRIDS for name, box in grid_objects(photo, sizes[photo])]
    queries, views = [], []
    for index, (photo, name, box) in enumerate(objects):
        rng = np.random.default_rng([seed, index])
        bw, bh = box[2] - box[0], box[3] - box[1]
        query_scale = QUERY_LONG_SIDE / (max(bw, bh) * QUERY_CONTEXT)
        target = ObjectOnPhoto(photo, box, sizes[photo], query_scale)
        queries.append(_query_view(target, name, rng))
        views += [plan_easy(target, name, rng) for _ in range(4)]
        views.append(plan_perspective(target, name, rng))
        views.append(plan_scale(target, name, rng))
        others = {p: sizes[p] for p in sizes if p != photo}
        occluder = _occluder_patch(others, sizes, rng)
        views.append(plan_occlusion(target, name, rng, *occluder))
        views.append(plan_lighting(target, name, rng))
    return objects, queries, views


def _occluder_patch(candidates: dict[str, tuple[int, int]], sizes, rng) -> tuple[str, np.ndarray]:
    """A window of another training photo, pasted over the object (it may show another object:
    that object is not labelled in the occluded view, a small label noise we accept)."""
    keys = sorted(candidates)
    photo = keys[int(rng.integers(len(keys)))]
    w, h = sizes[photo]
    k = rng.uniform(0.2, 0.4)
    quad = fit_inside(window((rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h), w * k, h * k), w, h)
    return photo, quad


def build_mini_train(target: str | Path, seed: int = 0) -> Path:
    """Build mini-train into the folder `target` (created whole or not at all) and return it."""
    return build_once(target, lambda folder: _write(folder, seed),
                      lambda folder: build_record_matches(folder, mini_train_version=MINI_TRAIN_VERSION, seed=seed),
                      f"a mini-train version {MINI_TRAIN_VERSION} build with seed {seed}")


def _write(folder: Path, seed: int) -> None:
    photos = {source.key: load_photo(source) for source in SOURCES}
    objects, query_views, views = plan(photos, seed)
    (folder / "images").mkdir()
    (folder / "queries").mkdir()
    render_rng = np.random.default_rng([seed, 10_000])
    names, records = [], {}
    for i, view in enumerate(views):
        name = f"images/{view.photo}_{i:03d}.jpg"
        (folder / name).write_bytes(jpeg_bytes(render(view, photos, render_rng), view.jpeg_quality))
        names.append(name)
        records[name] = {"photo": view.photo, "made_for": view.made_for, "recipe": view.recipe}
    entries, splits = [], []
    for index, ((photo, obj_name, box), query) in enumerate(zip(objects, query_views)):
        query_name = f"queries/q{index:02d}.jpg"
        image = render(query, photos, np.random.default_rng([seed, 20_000 + index]))
        (folder / query_name).write_bytes(jpeg_bytes(image, query.jpeg_quality))
        # With a 1 x 1 reference, visibility's scale is the square root of the object's area in the query.
        side_in_query = visibility(query, box, (1.0, 1.0)).scale
        box_size = (side_in_query, side_in_query)
        levels: dict[str, list[str]] = {"easy": [], "hard": [], "junk": []}
        for view, name in zip(views, names):
            if view.photo != photo:
                continue
            level = label(view, visibility(view, box, box_size))
            if level is not None:
                levels[level].append(name)
        entries.append({"query": query_name, "name": obj_name, **{k: sorted(v) for k, v in levels.items()}})
        splits.append("val" if photo in VALIDATION_PHOTOS else "train")
    write_dataset_json(folder / "ground_truth.json", {"queries": entries})
    write_dataset_json(folder / "views.json", records)
    write_dataset_json(folder / "splits.json", {"split": splits, "validation_photos": list(VALIDATION_PHOTOS)})
    (folder / "SOURCES.md").write_text(sources_markdown(SOURCES, what="the mini-train training set"))
    write_dataset_json(folder / "build_info.json", {"mini_train_version": MINI_TRAIN_VERSION, "seed": seed,
                                                    "queries": len(entries), "database": len(views)})


def load_mini_train(folder: Path) -> RetrievalDataset:
    """A built mini-train folder as a RetrievalDataset; extra holds "split" (per query: train/val),
    "image_photo" and "image_object" (per database image: its photo, the object it was made for)."""
    dataset = load_folder(folder, name="mini-train", protocol="revisited")
    splits = json.loads((folder / "splits.json").read_text())["split"]
    views = json.loads((folder / "views.json").read_text())
    relative = [p.relative_to(folder.resolve()).as_posix() if p.is_absolute() else p.as_posix()
                for p in (Path(os.path.realpath(x)) for x in dataset.images)]
    names = [q["name"] for q in json.loads((folder / "ground_truth.json").read_text())["queries"]]
    object_index = {name: i for i, name in enumerate(names)}
    dataset.extra.update(split=splits, query_object=names,
                         image_photo=[views[r]["photo"] for r in relative],
                         image_object=[object_index.get(views[r]["made_for"], -1) for r in relative])
    return dataset


def split(dataset: RetrievalDataset, which: str) -> RetrievalDataset:
    """The queries of one split ("train" or "val") with the database images of their photos only."""
    if which not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', not {which!r}")
    queries = [q for q, s in enumerate(dataset.extra["split"]) if s == which]
    photos = {dataset.extra["image_photo"][i] for q in queries
              for i in dataset.gnd[q]["easy"] + dataset.gnd[q]["hard"]}
    keep = [i for i, p in enumerate(dataset.extra["image_photo"]) if p in photos]
    new_id = {old: new for new, old in enumerate(keep)}
    gnd = [{k: [new_id[i] for i in dataset.gnd[q].get(k, []) if i in new_id] for k in ("easy", "hard", "junk")}
           for q in queries]
    extra = dict(dataset.extra)
    extra.update(split=[which] * len(queries), query_object=[dataset.extra["query_object"][q] for q in queries],
                 image_photo=[dataset.extra["image_photo"][i] for i in keep],
                 image_object=[dataset.extra["image_object"][i] for i in keep])
    return replace(dataset, name=f"{dataset.name}-{which}", images=[dataset.images[i] for i in keep],
                   queries=[dataset.queries[q] for q in queries], bboxes=[dataset.bboxes[q] for q in queries],
                   gnd=gnd, extra=extra)
