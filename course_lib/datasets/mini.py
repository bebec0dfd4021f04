"""The embedded offline benchmark `mini`: instance retrieval on real photographs shipped in pip wheels.

`build_mini(target)` turns photographs found inside the installed scikit-image,
scikit-learn and matplotlib packages into a small retrieval dataset in the kit's
folder format, with ground truth in the revisited Oxford/Paris structure.

How the benchmark is made
-------------------------
Each query object is a box drawn by hand on a source photo (a face, a pagoda, a
motorcycle engine ...); the motorcycle objects also have a box on the second
photo of the Middlebury stereo pair, a real change of viewpoint. A query image is
the whole photo with mild changes, and its `bbox` marks the object. The database
holds *views* of the photos: a window of the photo (any quadrilateral, so views can
be rotated and seen in perspective) rendered at 160-640 px, then changed in
lighting and colour, sometimes partly covered by a patch of another real photo,
and saved as JPEG. Per query object we plan three near views, four hard views
(strong perspective and rotation; a 3-4x change of scale; heavy occlusion; strong
lighting), one view next to the object and one view of the same photo away from
it. Four photos that hold no query object (brick, grass, gravel, clock) add
pure distractors.

How views are labelled (the rule, applied to every view of a photo that holds an
instance of the object, whatever the view was planned for)
-------------------------------------------------------------------------------
visible  = fraction of the object's box that lies inside the view and is not occluded
scale    = object size in the view / object size in the query image (linear)
coverage = visible object area / view area
- visible == 0               -> negative (not listed). So views of the same photo
                                 that miss the object are negatives: like Oxford
                                 photos of the same city without the landmark.
- 0 < visible < 0.25         -> junk (the revisited protocol's "less than 25% visible")
- otherwise positive, "easy" when visible >= 0.8, 0.5 <= scale <= 2, coverage >= 0.1,
  perspective <= 0.1, rotation <= 10 degrees and the lighting change is mild;
  "hard" otherwise.
Everything is seeded, so a build is the same bytes every time (given the same
Pillow/libjpeg); bump MINI_VERSION whenever the output changes.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ..images import load_image

try:
    import fcntl
except ImportError:  # Windows: stale build folders are recognised by age only
    fcntl = None

MINI_VERSION = 3   # 3: ground truth gains the object's box in every positive view (same images)
MAX_SIDE = 640          # longer side of every image written
MIN_SIDE = 160          # smallest longer side of a database view
MAX_UPSAMPLING = 3.0    # views enlarge source pixels about this much at most
# Views come in a few camera formats, as real collections do; images of equal shape
# share a batch during extraction, so few shapes also make extraction fast.
VIEW_ASPECTS = (4 / 3, 3 / 2, 1.0, 2 / 3, 3 / 4)     # width / height
VIEW_LONG_SIDES = (160, 240, 320, 480, 640)


class MiniBuildError(ValueError):
    """The mini benchmark cannot be built: a source photo is missing or the target is taken."""


# --- where the photographs come from ------------------------------------------------------

@dataclass(frozen=True)
class SourcePhoto:
    """A photograph inside an installed wheel, with what its package says about it."""

    key: str            # short name used in file names
    distribution: str   # the pip distribution that ships the file
    path: str           # path of the file inside site-packages
    title: str
    credit: str
    license: str
    documented_in: str  # where the package states the credit and license
    sha256: str         # of the file as shipped when MINI_VERSION was set

    def locate(self) -> Path:
        """The file on disk, checked to be part of the installed wheel (never downloaded)."""
        try:
            dist = metadata.distribution(self.distribution)
        except metadata.PackageNotFoundError:
            raise MiniBuildError(f"mini needs the photo {self.path} from the {self.distribution} package, "
                                 f"which is not installed (pip install {self.distribution})") from None
        listed = {str(f): f for f in dist.files or []}
        on_disk = Path(dist.locate_file(self.path))
        if self.path not in listed or not on_disk.is_file():
            raise MiniBuildError(f"mini: {self.path} is not part of the installed {self.distribution} "
                                 f"{dist.version} (reinstall it with pip install --force-reinstall "
                                 f"{self.distribution})")
        return on_disk


_SKIMAGE_DOC = "docstring of skimage.data.{}() (scikit-image)"
_SKLEARN_README = "sklearn/datasets/images/README.txt (scikit-learn)"

SOURCES: tuple[SourcePhoto, ...] = (
    SourcePhoto("astronaut", "scikit-image", "skimage/data/astronaut.png",
                "Astronaut Eileen Collins", "NASA (NASA Great Images database)",
                "Public domain (no known copyright restrictions)", _SKIMAGE_DOC.format("astronaut"),
                "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    SourcePhoto("camera", "scikit-image", "skimage/data/camera.png",
                "Cameraman", "Lav Varshney", "CC0 (no copyright restrictions)",
                _SKIMAGE_DOC.format("camera"),
                "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    SourcePhoto("chelsea", "scikit-image", "skimage/data/chelsea.png",
                "Chelsea the cat", "Stefan van der Walt", "CC0 (no copyright restrictions)",
                _SKIMAGE_DOC.format("chelsea"),
                "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    SourcePhoto("coffee", "scikit-image", "skimage/data/coffee.png",
                "Coffee cup (Pikolo Espresso Bar)", "Rachel Michetti", "CC0 (no copyright restrictions)",
                _SKIMAGE_DOC.format("coffee"),
                "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    SourcePhoto("coins", "scikit-image", "skimage/data/coins.png",
                "Greek coins from Pompeii", "Brooklyn Museum Collection",
                "No known copyright restrictions", _SKIMAGE_DOC.format("coins"),
                "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"),
    SourcePhoto("motorcycle_left", "scikit-image", "skimage/data/motorcycle_left.png",
                "Motorcycle, Middlebury 2014 stereo dataset, left view",
                "D. Scharstein et al., Middlebury College (GCPR 2014)",
                "Not stated by scikit-image; shipped in its BSD-3-Clause wheel. Cite Scharstein et al., "
                "GCPR 2014", _SKIMAGE_DOC.format("stereo_motorcycle"),
                "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
    SourcePhoto("motorcycle_right", "scikit-image", "skimage/data/motorcycle_right.png",
                "Motorcycle, Middlebury 2014 stereo dataset, right view",
                "D. Scharstein et al., Middlebury College (GCPR 2014)",
                "Not stated by scikit-image; shipped in its BSD-3-Clause wheel. Cite Scharstein et al., "
                "GCPR 2014", _SKIMAGE_DOC.format("stereo_motorcycle"),
                "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797"),
    SourcePhoto("rocket", "scikit-image", "skimage/data/rocket.jpg",
                "Falcon 9 with DSCOVR on the launch pad", "SpaceX",
                "Public domain (released by SpaceX)", _SKIMAGE_DOC.format("rocket"),
                "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    SourcePhoto("hubble", "scikit-image", "skimage/data/hubble_deep_field.jpg",
                "Hubble eXtreme Deep Field", "NASA (HubbleSite)",
                "Public domain (NASA media guidelines)", _SKIMAGE_DOC.format("hubble_deep_field"),
                "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"),
    SourcePhoto("retina", "scikit-image", "skimage/data/retina.jpg",
                "Fundus photograph of a normal left eye", "Mikael Häggström (Wikimedia Commons)",
                "CC0 1.0 (public domain dedication)", _SKIMAGE_DOC.format("retina"),
                "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"),
    SourcePhoto("ihc", "scikit-image", "skimage/data/ihc.png",
                "Immunohistochemical staining of colonic glands",
                "Center for Microscopy And Molecular Imaging (CMMI)",
                "No known copyright restrictions", _SKIMAGE_DOC.format("immunohistochemistry"),
                "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"),
    SourcePhoto("moon", "scikit-image", "skimage/data/moon.png",
                "Surface of the moon", "scikit-image sample data (photographer not stated)",
                "Not stated by scikit-image; shipped in its BSD-3-Clause wheel",
                _SKIMAGE_DOC.format("moon"),
                "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"),
    SourcePhoto("brick", "scikit-image", "skimage/data/brick.png",
                "Brick wall (CC0Textures Bricks25, warped and cropped by scikit-image)", "CC0Textures",
                "CC0", _SKIMAGE_DOC.format("brick"),
                "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
    SourcePhoto("grass", "scikit-image", "skimage/data/grass.png",
                "Grass (cropped and converted to grey by scikit-image)", "linolafett on DeviantArt",
                "CC0", _SKIMAGE_DOC.format("grass"),
                "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
    SourcePhoto("gravel", "scikit-image", "skimage/data/gravel.png",
                "Gravel (CC0Textures Gravel04, cropped and converted to grey by scikit-image)",
                "CC0Textures", "CC0", _SKIMAGE_DOC.format("gravel"),
                "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
    SourcePhoto("clock", "scikit-image", "skimage/data/clock_motion.png",
                "Motion-blurred wall clock", "Stefan van der Walt", "Public domain",
                _SKIMAGE_DOC.format("clock"),
                "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955"),
    SourcePhoto("china", "scikit-learn", "sklearn/datasets/images/china.jpg",
                "Tower of Buddhist Incense, Summer Palace, Beijing",
                "danielbuechele on Flickr (retrieved by Robert Layton)", "CC BY 2.0", _SKLEARN_README,
                "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29"),
    SourcePhoto("flower", "scikit-learn", "sklearn/datasets/images/flower.jpg",
                "Dahlia", "vultilion on Flickr (the README's attribution line says danielbuechele, "
                "its link points to vultilion's photostream; retrieved by Robert Layton)",
                "CC BY 2.0", _SKLEARN_README,
                "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638"),
    SourcePhoto("grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
                "Commodore Grace M. Hopper, USN", "U.S. Navy (official portrait)",
                "Public domain (U.S. government work; added to matplotlib as a public-domain image, "
                "matplotlib PR #1599)",
                "matplotlib/mpl-data/sample_data (matplotlib); github.com/matplotlib/matplotlib/pull/1599",
                "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class QueryObject:
    """One query: a named object, boxed on one or more source photos (x1, y1, x2, y2 in their pixels)."""

    name: str
    boxes: dict[str, Box]
    query_photo: str    # which boxed photo the query image is made from


OBJECTS: tuple[QueryObject, ...] = (
    QueryObject("astronaut's face", {"astronaut": (150, 15, 305, 175)}, "astronaut"),
    QueryObject("space shuttle model", {"astronaut": (345, 0, 470, 285)}, "astronaut"),
    QueryObject("mission patch", {"astronaut": (128, 342, 216, 428)}, "astronaut"),
    QueryObject("space helmet", {"astronaut": (275, 340, 512, 512)}, "astronaut"),
    QueryObject("cameraman", {"camera": (150, 60, 335, 245)}, "camera"),
    QueryObject("cat's face", {"chelsea": (110, 65, 360, 270)}, "chelsea"),
    QueryObject("coffee cup", {"coffee": (170, 15, 410, 295)}, "coffee"),
    QueryObject("coins, top right", {"coins": (250, 20, 368, 102)}, "coins"),
    QueryObject("coins, bottom left", {"coins": (15, 225, 135, 292)}, "coins"),
    QueryObject("motorcycle", {"motorcycle_left": (95, 95, 686, 452),
                               "motorcycle_right": (48, 95, 632, 452)}, "motorcycle_left"),
    QueryObject("motorcycle engine", {"motorcycle_left": (330, 240, 480, 365),
                                      "motorcycle_right": (285, 240, 435, 365)}, "motorcycle_right"),
    QueryObject("shelf with red crate", {"motorcycle_left": (520, 170, 700, 285),
                                         "motorcycle_right": (497, 170, 680, 285)}, "motorcycle_left"),
    QueryObject("Falcon 9 rocket", {"rocket": (290, 120, 360, 415)}, "rocket"),
    QueryObject("pagoda", {"china": (60, 25, 370, 395)}, "china"),
    QueryObject("dahlia", {"flower": (165, 85, 450, 362)}, "flower"),
    QueryObject("Grace Hopper's face", {"grace_hopper": (150, 20, 375, 335)}, "grace_hopper"),
    QueryObject("ribbon bar", {"grace_hopper": (318, 484, 456, 530)}, "grace_hopper"),
    QueryObject("galaxies, upper left", {"hubble": (200, 40, 500, 200)}, "hubble"),
    QueryObject("galaxies, lower right", {"hubble": (650, 400, 1000, 620)}, "hubble"),
    QueryObject("optic disc", {"retina": (60, 470, 400, 830)}, "retina"),
    QueryObject("round gland", {"ihc": (245, 295, 400, 485)}, "ihc"),
    QueryObject("moon crater", {"moon": (80, 40, 390, 200)}, "moon"),
)

DISTRACTOR_PHOTOS = ("brick", "grass", "gravel", "clock")
VIEWS_PER_DISTRACTOR_PHOTO = 5


# --- geometry: a view is a quadrilateral of the photo mapped onto a rectangle --------------

def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map sending the four points `src` to `dst` (each (4, 2))."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.c_[points, np.ones(len(points))] @ h.T
    return pts[:, :2] / pts[:, 2:3]


def _rect(width: float, height: float) -> np.ndarray:
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)


@dataclass
class Occluder:
    """A patch of another photo pasted over the view: rectangle in view pixels and where it comes from."""

    rect: tuple[int, int, int, int]
    photo: str
    quad: np.ndarray


@dataclass
class Lighting:
    """A change of lighting and colour, applied to the rendered view."""

    name: str
    gamma: float = 1.0
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    contrast: float = 1.0
    brightness: float = 0.0
    saturation: float = 1.0
    shade: float = 0.0          # darkening at one side of the picture (0 none, 1 black)
    shade_angle: float = 0.0
    noise: float = 0.0          # standard deviation, in 0..255 units
    blur: float = 0.0
    strong: bool = False


@dataclass
class View:
    """Everything needed to render one database image, and to label it without looking at pixels."""

    photo: str
    quad: np.ndarray            # (4, 2) corners in photo pixels: top-left, top-right, bottom-right, bottom-left
    size: tuple[int, int]       # (width, height) of the rendered view
    recipe: str
    made_for: str | None
    perspective: float = 0.0
    rotation: float = 0.0
    lighting: Lighting = field(default_factory=lambda: Lighting("none"))
    jpeg_quality: int = 90
    occluder: Occluder | None = None

    def photo_to_view(self) -> np.ndarray:
        return homography(self.quad, _rect(*self.size))


def window(center: tuple[float, float], width: float, height: float, rotation: float = 0.0,
           perspective: float = 0.0, near_side: str = "left") -> np.ndarray:
    """Corners of a window on the photo: a rectangle, rotated (degrees), with the edge on
    `near_side` shortened by `perspective` (0.3 = 30%). The short edge is stretched to the
    full height (or width) of the view, so that side of the scene looks closer: an oblique view."""
    hw, hh = width / 2, height / 2
    corners = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]], dtype=np.float64)
    shrink = 1.0 - perspective
    side = {"left": ([0, 3], 1), "right": ([1, 2], 1), "top": ([0, 1], 0), "bottom": ([2, 3], 0)}
    index, axis = side[near_side]
    corners[index, axis] *= shrink
    angle = math.radians(rotation)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return corners @ rot.T + np.asarray(center, dtype=np.float64)


def fit_inside(quad: np.ndarray, width: int, height: int) -> np.ndarray:
    """Shrink (about its centre) and shift the quadrilateral so that it lies inside the photo."""
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    factor = min(1.0, (width - 1) / (hi[0] - lo[0]), (height - 1) / (hi[1] - lo[1]))
    centre = quad.mean(axis=0)
    quad = centre + (quad - centre) * factor
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    shift = np.maximum(0.0, -lo) - np.maximum(0.0, hi - np.array([width - 1, height - 1]))
    return quad + shift


def _view_size(quad: np.ndarray, long_side: float, aspect_squash: float = 1.0) -> tuple[int, int]:
    """Output size for a window: the camera format nearest to the window's shape (measured
    along its own edges, times `aspect_squash`), with the standard longer side nearest to `long_side`."""
    w = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2 * aspect_squash
    h = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    aspect = min(VIEW_ASPECTS, key=lambda a: abs(math.log(a * h / w)))
    side = min(VIEW_LONG_SIDES, key=lambda s: abs(math.log(s / long_side)))
    return (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)


def _window_long_side(quad: np.ndarray) -> float:
    return max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[3] - quad[0]))


# --- labelling ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Visibility:
    visible: float     # fraction of the object's box inside the view and not occluded
    scale: float       # object size in the view / in the query image (linear)
    coverage: float    # visible object area / view area


def visibility(view: View, box: Box, query_box_size: tuple[float, float], samples: int = 24) -> Visibility:
    """How much of the object (given by its box on the view's photo) the view shows, and how big."""
    h = view.photo_to_view()
    x1, y1, x2, y2 = box
    xs = x1 + (np.arange(samples) + 0.5) / samples * (x2 - x1)
    ys = y1 + (np.arange(samples) + 0.5) / samples * (y2 - y1)
    grid = np.array([(x, y) for y in ys for x in xs])
    mapped = apply_homography(h, grid)
    w, ht = view.size
    inside = (mapped[:, 0] >= 0) & (mapped[:, 0] < w) & (mapped[:, 1] >= 0) & (mapped[:, 1] < ht)
    if view.occluder is not None:
        ox1, oy1, ox2, oy2 = view.occluder.rect
        inside &= ~((mapped[:, 0] >= ox1) & (mapped[:, 0] < ox2) & (mapped[:, 1] >= oy1) & (mapped[:, 1] < oy2))
    visible = float(inside.mean())
    corners = apply_homography(h, np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64))
    area = _polygon_area(corners)
    scale = math.sqrt(area / (query_box_size[0] * query_box_size[1]))
    return Visibility(visible, scale, visible * area / (w * ht))


def box_in_view(view: View, box: Box) -> list[float]:
    """The object's box (on the view's photo) as seen in the view: the bounding box of its warped
    corners, cut to the view, (x1, y1, x2, y2) in view pixels rounded to 0.1 (occluders ignored)."""
    x1, y1, x2, y2 = box
    corners = apply_homography(view.photo_to_view(), np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]],
                                                              dtype=np.float64))
    lo = np.clip(corners.min(axis=0), 0, view.size)
    hi = np.clip(corners.max(axis=0), 0, view.size)
    return [round(float(v), 1) for v in (*lo, *hi)]


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def label(view: View, seen: Visibility) -> str | None:
    """'easy', 'hard', 'junk' or None (negative), by the rule in the module docstring."""
    if seen.visible == 0:
        return None
    if seen.visible < 0.25:
        return "junk"
    mild_change = (view.perspective <= 0.1 and abs(view.rotation) <= 10 and not view.lighting.strong)
    if seen.visible >= 0.8 and 0.5 <= seen.scale <= 2 and seen.coverage >= 0.1 and mild_change:
        return "easy"
    return "hard"


# --- planning the views of one query object ------------------------------------------------

def _mild_lighting(rng: np.random.Generator) -> Lighting:
    return Lighting("mild", gamma=rng.uniform(0.9, 1.1), gains=tuple(rng.uniform(0.95, 1.05, 3)),
                    contrast=rng.uniform(0.9, 1.1), brightness=rng.uniform(-0.04, 0.04),
                    saturation=rng.uniform(0.85, 1.15), blur=float(rng.choice([0.0, 0.6])))


def _strong_lighting(rng: np.random.Generator) -> Lighting:
    kind = rng.choice(["night", "haze", "shadow", "tungsten", "black and white"])
    if kind == "night":
        return Lighting("night", gamma=rng.uniform(2.0, 2.6), gains=(0.75, 0.85, 1.15),
                        contrast=0.85, noise=rng.uniform(6, 10), strong=True)
    if kind == "haze":
        return Lighting("haze (overexposed)", contrast=rng.uniform(0.4, 0.5), brightness=0.25,
                        saturation=0.6, blur=1.0, strong=True)
    if kind == "shadow":
        return Lighting("side shadow", gamma=1.2, shade=rng.uniform(0.75, 0.9),
                        shade_angle=rng.uniform(0, 360), strong=True)
    if kind == "tungsten":
        return Lighting("tungsten colour cast", gamma=1.15, gains=(1.3, 1.0, 0.55), saturation=1.3,
                        strong=True)
    return Lighting("black and white", contrast=1.3, saturation=0.0, strong=True)


@dataclass
class _Target:
    """An object instance on one photo, with the photo's size and the query's object size."""

    photo: str
    box: Box
    photo_size: tuple[int, int]
    query_scale: float          # query image pixels per photo pixel for this object

    @property
    def centre(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2

    @property
    def extent(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return x2 - x1, y2 - y1


def _context_window(t: _Target, rng, context: tuple[float, float], **shape) -> np.ndarray:
    """A window around the object with `context` times its size, the object kept inside."""
    bw, bh = t.extent
    k = rng.uniform(*context)
    aspect = float(np.clip(bw / bh, 0.67, 1.5) * rng.uniform(0.9, 1.1))
    wh = max(bh * k, bw * k / aspect)
    ww = wh * aspect
    cx, cy = t.centre
    cx += rng.uniform(-1, 1) * max(0.0, ww - bw) / 2 * 0.8
    cy += rng.uniform(-1, 1) * max(0.0, wh - bh) / 2 * 0.8
    return fit_inside(window((cx, cy), ww, wh, **shape), *t.photo_size)


def _long_side_for_scale(quad: np.ndarray, t: _Target, scale: float) -> float:
    """Longer side of the view at which the object appears `scale` times its size in the query."""
    win = _window_long_side(quad)
    long_side = scale * t.query_scale * win
    return float(np.clip(long_side, MIN_SIDE, min(MAX_SIDE, MAX_UPSAMPLING * win)))


def _jpeg_quality(rng, strong: bool) -> int:
    return int(rng.integers(30, 56) if strong else rng.integers(75, 96))


def plan_easy(t: _Target, name: str, rng) -> View:
    rotation = rng.uniform(-4, 4)
    perspective = rng.uniform(0, 0.06)
    quad = _context_window(t, rng, (1.2, 1.8), rotation=rotation, perspective=perspective,
                           near_side=rng.choice(["left", "right", "top", "bottom"]))
    size = _view_size(quad, _long_side_for_scale(quad, t, rng.uniform(0.6, 1.2)))
    return View(t.photo, quad, size, "near view", name, perspective, rotation, _mild_lighting(rng),
                _jpeg_quality(rng, False))


def plan_perspective(t: _Target, name: str, rng) -> View:
    rotation = rng.choice([-1, 1]) * rng.uniform(12, 30)
    perspective = rng.uniform(0.3, 0.45)
    near_side = rng.choice(["left", "right", "top", "bottom"])
    quad = _context_window(t, rng, (1.2, 1.5), rotation=rotation, perspective=perspective, near_side=near_side)
    squash = 1 - perspective / 2 if near_side in ("left", "right") else 1 / (1 - perspective / 2)
    size = _view_size(quad, _long_side_for_scale(quad, t, rng.uniform(0.6, 1.2)), squash)
    return View(t.photo, quad, size, "strong perspective and rotation", name, perspective, rotation,
                _mild_lighting(rng), _jpeg_quality(rng, False))


def plan_scale(t: _Target, name: str, rng) -> View:
    """Zoom out until the object is 3-4x smaller than in the query; if the photo is too
    tight around the object for that, zoom in 2.5-3.5x on part of it instead."""
    photo_w, photo_h = t.photo_size
    bw, bh = t.extent
    cx, cy = t.centre
    # Widest window of the photo's shape that still holds the object.
    wide = fit_inside(window((cx, cy), photo_w * 0.98, photo_h * 0.98), photo_w, photo_h)
    size = _view_size(wide, _long_side_for_scale(wide, t, rng.uniform(0.25, 0.33)))
    achieved = max(size) / (t.query_scale * _window_long_side(wide))
    if achieved <= 0.4:
        return View(t.photo, wide, size, "zoomed out", name,
                    lighting=_mild_lighting(rng), jpeg_quality=_jpeg_quality(rng, False))
    part = rng.uniform(0.55, 0.7)
    ww, wh = bw * part, bh * part
    px = cx + rng.uniform(-1, 1) * (bw - ww) / 2
    py = cy + rng.uniform(-1, 1) * (bh - wh) / 2
    close = fit_inside(window((px, py), ww, wh), photo_w, photo_h)
    size = _view_size(close, _long_side_for_scale(close, t, rng.uniform(2.5, 3.5)))
    return View(t.photo, close, size, "zoomed in on part", name, lighting=_mild_lighting(rng),
                jpeg_quality=_jpeg_quality(rng, False))


def plan_occlusion(t: _Target, name: str, rng, occluder_photo: str, occluder_quad: np.ndarray) -> View:
    rotation = rng.uniform(-4, 4)
    quad = _context_window(t, rng, (1.2, 1.6), rotation=rotation)
    size = _view_size(quad, _long_side_for_scale(quad, t, rng.uniform(0.6, 1.2)))
    view = View(t.photo, quad, size, "heavy occlusion", name, rotation=rotation,
                lighting=_mild_lighting(rng), jpeg_quality=_jpeg_quality(rng, False))
    corners = apply_homography(view.photo_to_view(), np.array(
        [[t.box[0], t.box[1]], [t.box[2], t.box[1]], [t.box[2], t.box[3]], [t.box[0], t.box[3]]]))
    ox1, oy1 = np.clip(corners.min(axis=0), 0, size)
    ox2, oy2 = np.clip(corners.max(axis=0), 0, size)
    covered = rng.uniform(0.45, 0.6)
    ow, oh = ox2 - ox1, oy2 - oy1
    # Something in front of the object, entering from one side and reaching past it.
    side = rng.choice(["left", "right", "top", "bottom"])
    if side == "left":
        rect = (0, oy1 - 0.2 * oh, ox1 + covered * ow, oy2 + 0.2 * oh)
    elif side == "right":
        rect = (ox2 - covered * ow, oy1 - 0.2 * oh, size[0], oy2 + 0.2 * oh)
    elif side == "top":
        rect = (ox1 - 0.2 * ow, 0, ox2 + 0.2 * ow, oy1 + covered * oh)
    else:
        rect = (ox1 - 0.2 * ow, oy2 - covered * oh, ox2 + 0.2 * ow, size[1])
    x1, y1, x2, y2 = (int(round(v)) for v in rect)
    view.occluder = Occluder((max(0, x1), max(0, y1), min(size[0], x2), min(size[1], y2)),
                             occluder_photo, occluder_quad)
    return view


def plan_lighting(t: _Target, name: str, rng) -> View:
    rotation = rng.uniform(-4, 4)
    quad = _context_window(t, rng, (1.2, 1.8), rotation=rotation)
    size = _view_size(quad, _long_side_for_scale(quad, t, rng.uniform(0.6, 1.2)))
    return View(t.photo, quad, size, "strong lighting change", name, rotation=rotation,
                lighting=_strong_lighting(rng), jpeg_quality=_jpeg_quality(rng, True))


def plan_next_to(t: _Target, name: str, rng) -> View | None:
    """A window beside the object that shows only a sliver of it (5-20% of its box): junk."""
    bw, bh = t.extent
    cx, cy = t.centre
    directions = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1)]
    for i in rng.permutation(len(directions)):
        dx, dy = directions[i]
        for size_factor in (1.0, 0.6, 0.35):
            # Keep the window's shape ordinary (between 3:5 and 5:3) even for a thin object.
            ww = max(bw, 0.6 * bh) * size_factor
            wh = max(bh, 0.6 * bw) * size_factor
            for offset in np.linspace(0.5, 1.2, 15):
                centre = (cx + dx * offset * (bw + ww) / 2, cy + dy * offset * (bh + wh) / 2)
                quad = fit_inside(window(centre, ww, wh), *t.photo_size)
                size = _view_size(quad, _long_side_for_scale(quad, t, 1.0))
                view = View(t.photo, quad, size, "beside the object", name, lighting=_mild_lighting(rng),
                            jpeg_quality=_jpeg_quality(rng, False))
                if 0.05 <= visibility(view, t.box, (bw, bh)).visible <= 0.2:
                    return view
    return None


def plan_away(photo: str, photo_size: tuple[int, int], boxes_to_avoid: list[Box], name: str | None,
              rng, tries: int = 60) -> View | None:
    """A window of the photo that shows none of `boxes_to_avoid` (a same-photo negative)."""
    photo_w, photo_h = photo_size
    for _ in range(tries):
        ww = photo_w * rng.uniform(0.2, 0.6)
        wh = float(np.clip(ww / rng.uniform(0.75, 1.33), photo_h * 0.2, photo_h * 0.9))
        centre = (rng.uniform(ww / 2, photo_w - ww / 2), rng.uniform(wh / 2, photo_h - wh / 2))
        quad = fit_inside(window(centre, ww, wh, rotation=rng.uniform(-5, 5)), photo_w, photo_h)
        long_side = min(MAX_SIDE, MAX_UPSAMPLING * _window_long_side(quad), rng.uniform(200, 400))
        view = View(photo, quad, _view_size(quad, max(MIN_SIDE, long_side)), "same photo, away from the object",
                    name, lighting=_mild_lighting(rng), jpeg_quality=_jpeg_quality(rng, False))
        if all(visibility(view, box, (1, 1)).visible == 0 for box in boxes_to_avoid):
            return view
    return None


def plan_occluder_patch(sizes: dict[str, tuple[int, int]], photos_to_skip: set[str],
                        rng) -> tuple[str, np.ndarray]:
    """A patch of another photo that shows no query object, to paste over an object.

    The patch never comes from a photo that holds the occluded object, and it avoids
    every object boxed on its own photo, so pasting it changes no other label."""
    candidates = sorted(set(sizes) - photos_to_skip)
    for i in rng.permutation(len(candidates)):
        photo = candidates[i]
        boxes = [obj.boxes[photo] for obj in OBJECTS if photo in obj.boxes]
        patch = plan_away(photo, sizes[photo], boxes, None, rng, tries=20)
        if patch is not None:
            return photo, patch.quad
    raise MiniBuildError("mini: no photo offers a patch free of query objects to use as an occluder")


def plan_distractor(photo: str, photo_size: tuple[int, int], rng) -> View:
    photo_w, photo_h = photo_size
    k = rng.uniform(0.4, 1.0)
    rotation = rng.uniform(-20, 20)
    perspective = rng.uniform(0, 0.35)
    centre = (rng.uniform(0.3, 0.7) * photo_w, rng.uniform(0.3, 0.7) * photo_h)
    quad = fit_inside(window(centre, photo_w * k, photo_h * k, rotation, perspective,
                             rng.choice(["left", "right", "top", "bottom"])), photo_w, photo_h)
    strong = bool(rng.random() < 0.4)
    return View(photo, quad, _view_size(quad, rng.uniform(200, 400)), "distractor", None, perspective,
                rotation, _strong_lighting(rng) if strong else _mild_lighting(rng), _jpeg_quality(rng, strong))


# --- rendering ---------------------------------------------------------------------------

def render(view: View, photos: dict[str, Image.Image], rng: np.random.Generator) -> Image.Image:
    """Warp the photo window onto the view, paste the occluder, change the lighting."""
    image = _warp(photos[view.photo], view.quad, view.size)
    if view.occluder is not None:
        x1, y1, x2, y2 = view.occluder.rect
        if x2 > x1 and y2 > y1:
            patch = _warp(photos[view.occluder.photo], view.occluder.quad, (x2 - x1, y2 - y1))
            image.paste(patch, (x1, y1))
    return relight(image, view.lighting, rng)


def _warp(photo: Image.Image, quad: np.ndarray, size: tuple[int, int]) -> Image.Image:
    # Shrink the photo first when the view is much smaller than the window, so that the
    # bicubic warp does not alias (it samples, it does not average).
    reduction = math.sqrt(_polygon_area(quad) / (size[0] * size[1]))
    if reduction > 1.25:
        small = photo.resize((max(1, round(photo.width / reduction)), max(1, round(photo.height / reduction))),
                             Image.Resampling.LANCZOS)
        quad = quad * np.array([small.width / photo.width, small.height / photo.height])
        photo = small
    view_to_photo = homography(_rect(*size), quad)
    coefficients = tuple((view_to_photo / view_to_photo[2, 2]).ravel()[:8])
    return photo.transform(size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)


def relight(image: Image.Image, light: Lighting, rng: np.random.Generator) -> Image.Image:
    if light.blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(light.blur))
    x = np.asarray(image, dtype=np.float64) / 255.0
    x = x ** light.gamma * np.asarray(light.gains)
    grey = x @ np.array([0.299, 0.587, 0.114])
    x = grey[..., None] + light.saturation * (x - grey[..., None])
    x = (x - 0.5) * light.contrast + 0.5 + light.brightness
    if light.shade > 0:
        h, w = x.shape[:2]
        angle = math.radians(light.shade_angle)
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = ((xx - w / 2) * math.cos(angle) + (yy - h / 2) * math.sin(angle)) / (0.5 * math.hypot(w, h))
        x = x * (1 - light.shade * np.clip((ramp + 1) / 2, 0, 1))[..., None]
    if light.noise > 0:
        x = x + rng.normal(0, light.noise / 255.0, x.shape)
    return Image.fromarray(np.clip(np.round(x * 255), 0, 255).astype(np.uint8))


def _jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# --- the build ---------------------------------------------------------------------------

def load_source_photos() -> dict[str, Image.Image]:
    """Every source photo as RGB, read from the installed wheels; warns if a file changed."""
    photos = {}
    for source in SOURCES:
        path = source.locate()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != source.sha256:
            warnings.warn(f"mini: {source.path} in the installed {source.distribution} differs from the "
                          f"photo mini version {MINI_VERSION} was made from; scores may differ from "
                          f"published ones", stacklevel=2)
        photos[source.key] = load_image(path)
    return photos


def _query_scale(photo: Image.Image) -> float:
    return min(1.0, MAX_SIDE / max(photo.size))


def plan_database(photos: dict[str, Image.Image], seed: int) -> list[View]:
    """All database views, in a fixed order (object by object, then the distractor photos)."""
    views: list[View] = []
    sizes = {key: img.size for key, img in photos.items()}
    for index, obj in enumerate(OBJECTS):
        rng = np.random.default_rng([seed, index])
        scale = _query_scale(photos[obj.query_photo])
        targets = [_Target(p, box, sizes[p], scale) for p, box in obj.boxes.items()]

        def pick(slot: int) -> _Target:
            # Spread the views over the photos that hold the object (the stereo pair: both views).
            return targets[slot % len(targets)]

        views += [plan_easy(pick(slot), obj.name, rng) for slot in range(3)]
        views.append(plan_perspective(pick(1), obj.name, rng))
        views.append(plan_scale(pick(0), obj.name, rng))
        occluder_photo, occluder_quad = plan_occluder_patch(sizes, set(obj.boxes), rng)
        views.append(plan_occlusion(pick(1), obj.name, rng, occluder_photo, occluder_quad))
        views.append(plan_lighting(pick(0), obj.name, rng))
        beside = plan_next_to(pick(0), obj.name, rng)
        if beside is not None:
            views.append(beside)
        away = plan_away(targets[0].photo, targets[0].photo_size, [targets[0].box], obj.name, rng)
        if away is not None:
            views.append(away)
    for index, photo in enumerate(DISTRACTOR_PHOTOS):
        rng = np.random.default_rng([seed, len(OBJECTS) + index])
        views += [plan_distractor(photo, sizes[photo], rng) for _ in range(VIEWS_PER_DISTRACTOR_PHOTO)]
    return views


def build_mini(target: str | Path, seed: int = 0) -> Path:
    """Build the mini benchmark into the folder `target` (created) and return it.

    Writes images/ (database JPEGs), queries/ (query JPEGs), ground_truth.json
    (easy/hard/junk per query, query boxes, the object's box in every positive view, sources), views.json (how each database
    image was made), SOURCES.md (origins and licenses) and build_info.json. The
    folder appears complete or not at all: it is built next to `target` and renamed.
    An existing complete build of the same version and seed is returned as is; any
    other existing folder is left alone and reported.
    """
    return build_once(target, lambda folder: _write_benchmark(folder, seed),
                      lambda folder: build_record_matches(folder, mini_version=MINI_VERSION, seed=seed),
                      f"a mini version {MINI_VERSION} build with seed {seed}")


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


BUILD_LOCK = ".building.lock"  # held (flock) by the process building; a killed build releases it
STALE_UNLOCKED_SECONDS = 600   # a build folder without a lock file counts as stale after this long


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
        (folder / name).write_bytes(_jpeg_bytes(image, view.jpeg_quality))
        view_records[name] = _describe_view(view)

    queries = []
    for index, obj in enumerate(OBJECTS):
        rng = np.random.default_rng([seed, 20_000 + index])
        photo = photos[obj.query_photo]
        scale = _query_scale(photo)
        size = (round(photo.width * scale), round(photo.height * scale))
        image = relight(photo.resize(size, Image.Resampling.LANCZOS) if scale < 1 else photo,
                        _mild_lighting(rng), rng)
        query_name = f"queries/q{index:02d}.jpg"
        (folder / query_name).write_bytes(_jpeg_bytes(image, 92))
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
    _write_json(folder / "ground_truth.json", {"queries": queries, "sources": sources})
    _write_json(folder / "views.json", view_records)
    (folder / "SOURCES.md").write_text(sources_markdown([s for s in SOURCES if s.key in used]))
    _write_json(folder / "build_info.json", {"mini_version": MINI_VERSION, "seed": seed,
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


def _write_json(path: Path, payload) -> None:
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


SOURCES_CSV_FIELDS = ("key", "package", "path", "title", "credit", "license", "documented_in", "sha256")


def sources_csv() -> str:
    """The source table as CSV: data/mini_sources.csv in the repository is this text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SOURCES_CSV_FIELDS)
    for source in SOURCES:
        record = _source_record(source)
        writer.writerow([record[f] for f in SOURCES_CSV_FIELDS])
    return buffer.getvalue()


def sources_markdown(sources: list[SourcePhoto] | tuple[SourcePhoto, ...] = SOURCES) -> str:
    lines = [f"# Sources of the mini benchmark (version {MINI_VERSION})", "",
             "Every image in this folder is a modified version (cropped, warped, resized, recoloured, "
             "partly covered, re-compressed) of one of these photographs, read from the installed Python "
             "packages named below. Credits and licenses are as those packages state them.", "",
             "| photo | package | file | credit | license | stated in |",
             "|---|---|---|---|---|---|"]
    for s in sources:
        lines.append(f"| {s.title} | {s.distribution} | `{s.path}` | {s.credit} | {s.license} | "
                     f"{s.documented_in} |")
    lines += ["", "CC BY 2.0: https://creativecommons.org/licenses/by/2.0/ ; "
              "CC0 1.0: https://creativecommons.org/publicdomain/zero/1.0/", ""]
    return "\n".join(lines)


# Public names for the training-set builder (datasets/mini_train.py), which makes its views the same way.
ObjectOnPhoto = _Target
mild_lighting = _mild_lighting
jpeg_bytes = _jpeg_bytes
view_size = _view_size
