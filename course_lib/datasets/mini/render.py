"""Rendering a planned view into pixels: warp the photo window, paste the occluder, relight, compress."""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageFilter

from .views import Lighting, View, homography, polygon_area, rect_corners


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
    reduction = math.sqrt(polygon_area(quad) / (size[0] * size[1]))
    if reduction > 1.25:
        small = photo.resize((max(1, round(photo.width / reduction)), max(1, round(photo.height / reduction))),
                             Image.Resampling.LANCZOS)
        quad = quad * np.array([small.width / photo.width, small.height / photo.height])
        photo = small
    view_to_photo = homography(rect_corners(*size), quad)
    coefficients = tuple((view_to_photo / view_to_photo[2, 2]).ravel()[:8])
    return photo.transform(size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)


def relight(image: Image.Image, light: Lighting, rng: np.random.Generator) -> Image.Image:
    """The image under another lighting: blur, gamma and colour gains, saturation, contrast, shade, noise."""
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


def jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    """The image as a JPEG file at this quality (0-100)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
