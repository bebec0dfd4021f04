"""Localization and detection (notebook 04): boxes and anchors, localizing the query in a retrieved image,
region search, and a Faster R-CNN on the offline backbone. Submodules are imported on first use."""
from ..lazy_imports import lazy_face

__all__ = ["boxes"]
__getattr__, __dir__ = lazy_face(__name__, {"boxes": "boxes"})
