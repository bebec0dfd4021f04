"""Planning mini's views at random (seeded): per query object near, hard, beside and away views, then distractors."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .labels import visibility
from .objects import DISTRACTOR_PHOTOS, OBJECTS, VIEWS_PER_DISTRACTOR_PHOTO, Box
from .sources import MiniBuildError
from .views import (Lighting, Occluder, View, apply_homography, fit_inside, view_size, window,
                    window_long_side)

MAX_SIDE = 640          # longer side of every image written
MIN_SIDE = 160          # smallest longer side of a database view
MAX_UPSAMPLING = 3.0    # views enlarge source pixels about this much at most


def mild_lighting(rng: np.random.Generator) -> Lighting:
    """A small change of lighting and colour, as between two photos taken minutes apart."""
    return Lighting("mild", gamma=rng.uniform(0.9, 1.1), gains=tuple(rng.uniform(0.95, 1.05, 3)),
                    contrast=rng.uniform(0.9, 1.1), brightness=rng.uniform(-0.04, 0.04),
                    saturation=rng.uniform(0.85, 1.15), blur=float(rng.choice([0.0, 0.6])))


def strong_lighting(rng: np.random.Generator) -> Lighting:
    """A change of lighting that makes the view hard: night, haze, shadow, a colour cast, black and white."""
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
class ObjectOnPhoto:
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


def _context_window(t: ObjectOnPhoto, rng, context: tuple[float, float], **shape) -> np.ndarray:
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


def _long_side_for_scale(quad: np.ndarray, t: ObjectOnPhoto, scale: float) -> float:
    """Longer side of the view at which the object appears `scale` times its size in the query."""
    win = window_long_side(quad)
    long_side = scale * t.query_scale * win
    return float(np.clip(long_side, MIN_SIDE, min(MAX_SIDE, MAX_UPSAMPLING * win)))


def _jpeg_quality(rng, strong: bool) -> int:
    return int(rng.integers(30, 56) if strong else rng.integers(75, 96))


def plan_easy(t: ObjectOnPhoto, name: str, rng) -> View:
    """A near view: the object with some context, barely turned, at about its query size."""
    rotation = rng.uniform(-4, 4)
    perspective = rng.uniform(0, 0.06)
    quad = _context_window(t, rng, (1.2, 1.8), rotation=rotation, perspective=perspective,
                           near_side=rng.choice(["left", "right", "top", "bottom"]))
    size = view_size(quad, _long_side_for_scale(quad, t, rng.uniform(0.6, 1.2)))
    return View(t.photo, quad, size, "near view", name, perspective, rotation, mild_lighting(rng),
                _jpeg_quality(rng, False))


def plan_perspective(t: ObjectOnPhoto, name: str, rng) -> View:
    """An oblique view: strong perspective (30-45%) and a rotation of 12-30 degrees."""
    rotation = rng.choice([-1, 1]) * rng.uniform(12, 30)
    perspective = rng.uniform(0.3, 0.45)
    near_side = rng.choice(["left", "right", "top", "bottom"])
    quad = _context_window(t, rng, (1.2, 1.5), rotation=rotation, perspective=perspective, near_side=near_side)
    squash = 1 - perspective / 2 if near_side in ("left", "right") else 1 / (1 - perspective / 2)
    size = view_size(quad, _long_side_for_scale(quad, t, rng.uniform(0.6, 1.2)), squash)
    return View(t.photo, quad, size, "strong perspective and rotation", name, perspective, rotation,
                mild_lighting(rng), _jpeg_quality(rng, False))


def plan_scale(t: ObjectOnPhoto, name: str, rng) -> View:
    """Zoom out until the object is 3-4x smaller than in the query; if the photo is too
    tight around the object for that, zoom in 2.5-3.5x on part of it instead."""
    photo_w, photo_h = t.photo_size
    bw, bh = t.extent
    cx, cy = t.centre
    # Widest window of the photo's shape that still holds the object.
    wide = fit_inside(window((cx, cy), photo_w * 0.98, photo_h * 0.98), photo_w, photo_h)
    size = view_size(wide, _long_side_for_scale(wide, t, rng.uniform(0.25, 0.33)))
    achieved = max(size) / (t.query_scale * window_long_side(wide))
    if achieved <= 0.4:
        return View(t.photo, wide, size, "zoomed out", name,
                    lighting=mild_lighting(rng), jpeg_quality=_jpeg_quality(rng, False))
    part = rng.uniform(0.55, 0.7)
    ww, wh = bw * part, bh * part
    px = cx + rng.uniform(-1, 1) * (bw - ww) / 2
    py = cy + rng.uniform(-1, 1) * (bh - wh) / 2
    close = fit_inside(window((px, py), ww, wh), photo_w, photo_h)
    size = view_size(close, _long_side_for_scale(close, t, rng.uniform(2.5, 3.5)))
    return View(t.photo, close, size, "zoomed in on part", name, lighting=mild_lighting(rng),
                jpeg_quality=_jpeg_quality(rng, False))


def plan_occlusion(t: ObjectOnPhoto, name: str, rng, occluder_photo: str, occluder_quad: np.ndarray) -> View:
    """A near view with about half of the object covered by the given patch of another photo."""
    rotation = rng.uniform(-4, 4)
    quad = _context_window(t, rng, (1.2, 1.6), rotation=rotation)
    size = view_size(quad, _long_side_for_scale(quad, t, rng.uniform(0.6, 1.2)))
    view = View(t.photo, quad, size, "heavy occlusion", name, rotation=rotation,
                lighting=mild_lighting(rng), jpeg_quality=_jpeg_quality(rng, False))
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


def plan_lighting(t: ObjectOnPhoto, name: str, rng) -> View:
    """A near view under a strong change of lighting, saved at a low JPEG quality."""
    rotation = rng.uniform(-4, 4)
    quad = _context_window(t, rng, (1.2, 1.8), rotation=rotation)
    size = view_size(quad, _long_side_for_scale(quad, t, rng.uniform(0.6, 1.2)))
    return View(t.photo, quad, size, "strong lighting change", name, rotation=rotation,
                lighting=strong_lighting(rng), jpeg_quality=_jpeg_quality(rng, True))


def plan_next_to(t: ObjectOnPhoto, name: str, rng) -> View | None:
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
                size = view_size(quad, _long_side_for_scale(quad, t, 1.0))
                view = View(t.photo, quad, size, "beside the object", name, lighting=mild_lighting(rng),
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
        long_side = min(MAX_SIDE, MAX_UPSAMPLING * window_long_side(quad), rng.uniform(200, 400))
        view = View(photo, quad, view_size(quad, max(MIN_SIDE, long_side)), "same photo, away from the object",
                    name, lighting=mild_lighting(rng), jpeg_quality=_jpeg_quality(rng, False))
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
    """A view of a photo that holds no query object: a pure distractor."""
    photo_w, photo_h = photo_size
    k = rng.uniform(0.4, 1.0)
    rotation = rng.uniform(-20, 20)
    perspective = rng.uniform(0, 0.35)
    centre = (rng.uniform(0.3, 0.7) * photo_w, rng.uniform(0.3, 0.7) * photo_h)
    quad = fit_inside(window(centre, photo_w * k, photo_h * k, rotation, perspective,
                             rng.choice(["left", "right", "top", "bottom"])), photo_w, photo_h)
    strong = bool(rng.random() < 0.4)
    return View(photo, quad, view_size(quad, rng.uniform(200, 400)), "distractor", None, perspective,
                rotation, strong_lighting(rng) if strong else mild_lighting(rng), _jpeg_quality(rng, strong))



def query_scale(photo: Image.Image) -> float:
    """Query image pixels per photo pixel: a query is the whole photo, its longer side at most MAX_SIDE."""
    return min(1.0, MAX_SIDE / max(photo.size))


def plan_database(photos: dict[str, Image.Image], seed: int) -> list[View]:
    """All database views, in a fixed order (object by object, then the distractor photos).

    Per query object: three near views, four hard views (strong perspective and rotation; a 3-4x
    change of scale; heavy occlusion by a patch of another real photo; strong lighting), one view
    next to the object and one view of the same photo away from it. The motorcycle objects are
    boxed on both photos of the Middlebury stereo pair, so their views show a real change of
    viewpoint. Four photos that hold no query object (brick, grass, gravel, clock) add pure distractors.
    """
    views: list[View] = []
    sizes = {key: img.size for key, img in photos.items()}
    for index, obj in enumerate(OBJECTS):
        rng = np.random.default_rng([seed, index])
        scale = query_scale(photos[obj.query_photo])
        targets = [ObjectOnPhoto(p, box, sizes[p], scale) for p, box in obj.boxes.items()]

        def pick(slot: int) -> ObjectOnPhoto:
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
