"""A view of mini: a quadrilateral window of a photo mapped onto a rectangle, with its lighting and occluder."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Views come in a few camera formats, as real collections do; images of equal shape
# share a batch during extraction, so few shapes also make extraction fast.
VIEW_ASPECTS = (4 / 3, 3 / 2, 1.0, 2 / 3, 3 / 4)     # width / height
VIEW_LONG_SIDES = (160, 240, 320, 480, 640)


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
    """The (N, 2) points mapped by the 3x3 projective map `h`."""
    pts = np.c_[points, np.ones(len(points))] @ h.T
    return pts[:, :2] / pts[:, 2:3]


def rect_corners(width: float, height: float) -> np.ndarray:
    """The corners of a width x height rectangle at the origin, in a view's corner order."""
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
        return homography(self.quad, rect_corners(*self.size))


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


def view_size(quad: np.ndarray, long_side: float, aspect_squash: float = 1.0) -> tuple[int, int]:
    """Output size for a window: the camera format nearest to the window's shape (measured
    along its own edges, times `aspect_squash`), with the standard longer side nearest to `long_side`."""
    w = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2 * aspect_squash
    h = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    aspect = min(VIEW_ASPECTS, key=lambda a: abs(math.log(a * h / w)))
    side = min(VIEW_LONG_SIDES, key=lambda s: abs(math.log(s / long_side)))
    return (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)


def window_long_side(quad: np.ndarray) -> float:
    """The longer of the window's first two edges, in photo pixels."""
    return max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[3] - quad[0]))


def polygon_area(points: np.ndarray) -> float:
    """Area of the polygon with these (N, 2) corners, in order (shoelace formula)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
