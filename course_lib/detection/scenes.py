"""Detection scenes for training and testing a detector offline: objects cut from real pip photographs
(by mini's hand-drawn boxes) pasted into other real photos with known boxes, at new scales, lighting and
partly covered. Deterministic from a seed; training and held-out scenes use disjoint background photos."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from ..datasets import mini
from .boxes import box_iou

# The objects a detector learns (one class each): (class name, mini object whose box cuts it out).
CLASSES = (("cat's face", "cat's face"), ("coffee cup", "coffee cup"), ("dahlia", "dahlia"), ("pagoda", "pagoda"))
# Backgrounds hold none of the objects; held-out scenes are made on photos training never saw.
TRAIN_BACKGROUNDS = ("brick", "grass", "camera", "motorcycle_left", "hubble", "coins")
HELD_OUT_BACKGROUNDS = ("gravel", "moon", "motorcycle_right", "rocket", "grace_hopper")
SCENE_SIZE = (320, 240)            # width, height
OBJECT_SIDES = (48, 150)           # longer side of a pasted object, pixels


@dataclass
class Scene:
    """One scene: the image, its objects' boxes (x1, y1, x2, y2) and class ids (1..K; 0 is background)."""

    image: Image.Image
    boxes: np.ndarray
    labels: np.ndarray
    background: str

    def target(self) -> dict:
        """torchvision's detection target for this scene."""
        return {"boxes": torch.as_tensor(self.boxes, dtype=torch.float32),
                "labels": torch.as_tensor(self.labels, dtype=torch.int64)}

    def tensor(self) -> torch.Tensor:
        return pil_to_tensor(self.image).float().div_(255)


def class_names() -> list[str]:
    return [name for name, _ in CLASSES]


def object_crops(photos: dict[str, Image.Image]) -> list[Image.Image]:
    """Each class's object cut from its source photo by mini's box."""
    boxes = {obj.name: (obj.query_photo, obj.boxes[obj.query_photo]) for obj in mini.OBJECTS}
    crops = []
    for _, object_name in CLASSES:
        photo, box = boxes[object_name]
        crops.append(photos[photo].crop(tuple(int(v) for v in box)))
    return crops


def _lighting(rng: np.random.Generator) -> mini.Lighting:
    strong = rng.random() < 0.3
    return mini.Lighting("scene", gamma=rng.uniform(0.7, 1.5) if strong else rng.uniform(0.9, 1.1),
                         gains=tuple(rng.uniform(0.85, 1.15, 3)), contrast=rng.uniform(0.7, 1.2),
                         brightness=rng.uniform(-0.08, 0.08), saturation=rng.uniform(0.6, 1.3), strong=strong)


def make_scene(photos: dict[str, Image.Image], crops: list[Image.Image], background: str,
               rng: np.random.Generator) -> Scene:
    """A random window of the background photo with 1-3 objects pasted at random scales and places
    (boxes overlapping at most IoU 0.1); some objects partly covered by a patch of the background."""
    width, height = SCENE_SIZE
    photo = photos[background]
    k = rng.uniform(0.5, 1.0)
    window_w = min(photo.width, photo.height * width / height) * k
    window_h = window_w * height / width
    x0, y0 = rng.uniform(0, photo.width - window_w), rng.uniform(0, photo.height - window_h)
    canvas = photo.crop((int(x0), int(y0), int(x0 + window_w), int(y0 + window_h))).resize(SCENE_SIZE, Image.Resampling.BILINEAR)
    boxes, labels = [], []
    for _ in range(int(rng.integers(1, 4))):
        label = int(rng.integers(len(crops)))
        crop = crops[label]
        side = rng.uniform(*OBJECT_SIDES)
        stretch = rng.uniform(0.9, 1.1)
        scale = side / max(crop.size)
        w, h = max(8, round(crop.width * scale * stretch)), max(8, round(crop.height * scale / stretch))
        for _attempt in range(20):
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            box = [x, y, x + w, y + h]
            if not boxes or float(box_iou([box], boxes).max()) <= 0.1:
                break
        else:
            continue
        patch = mini.relight(crop.resize((w, h), Image.Resampling.LANCZOS), _lighting(rng), rng)
        canvas.paste(patch, (x, y))
        if rng.random() < 0.3:   # something in front: a strip of the background over 20-40% of the object
            cover = rng.uniform(0.2, 0.4)
            side_cut = int(w * cover)
            strip = photo.crop((0, 0, side_cut, h)).resize((max(1, side_cut), h))
            canvas.paste(strip, (x if rng.random() < 0.5 else x + w - side_cut, y))
        boxes.append(box)
        labels.append(label + 1)
    canvas = mini.relight(canvas, _lighting(rng), rng)
    return Scene(canvas, np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(labels, dtype=np.int64),
                 background)


def make_scenes(count: int, split: str = "train", seed: int = 0) -> list[Scene]:
    """`count` scenes of a split ("train" or "held-out"), the same every time for the same seed."""
    if split not in ("train", "held-out"):
        raise ValueError(f"make_scenes: split must be 'train' or 'held-out', got {split!r}")
    photos = mini.load_source_photos()
    crops = object_crops(photos)
    backgrounds = TRAIN_BACKGROUNDS if split == "train" else HELD_OUT_BACKGROUNDS
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    return [make_scene(photos, crops, backgrounds[i % len(backgrounds)], rng) for i in range(count)]


def manifest() -> dict:
    """Where every pixel of the scenes comes from: the source photos (package, file, sha256) by role."""
    keys = {obj.query_photo for obj in mini.OBJECTS if obj.name in {o for _, o in CLASSES}}
    by_key = {s.key: s for s in mini.SOURCES}

    def describe(key):
        source = by_key[key]
        return {"key": key, "package": source.distribution, "path": source.path, "license": source.license,
                "sha256": source.sha256}

    return {"objects": [describe(k) for k in sorted(keys)],
            "train_backgrounds": [describe(k) for k in TRAIN_BACKGROUNDS],
            "held_out_backgrounds": [describe(k) for k in HELD_OUT_BACKGROUNDS],
            "classes": class_names(), "scene_size": list(SCENE_SIZE)}
