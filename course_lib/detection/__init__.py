"""Localization and detection (notebook 04): boxes and anchors, localizing the query in a retrieved image,
region search, and a Faster R-CNN on the offline backbone."""
from . import boxes

__all__ = ["boxes"]
