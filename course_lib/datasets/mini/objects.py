"""What mini asks for: the query objects, each boxed by hand on the source photos that show it."""
from __future__ import annotations

from dataclasses import dataclass

Box = tuple[float, float, float, float]   # (x1, y1, x2, y2) in the pixels of a photo


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
