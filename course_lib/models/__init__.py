"""Networks: pretrained backbones with named taps (backbones), their inference rewrites (inference)
and the retrieval network, backbone -> GeM -> whitening (retrieval).

The face lists the backbones' names, imported on first use (torch only when a network is).
"""
from ..lazy_imports import lazy_face
from ..names import BACKBONES, DEFAULT_BACKBONE

_NAMES = {name: "backbones" for name in (
    "IMAGENET_MEAN", "IMAGENET_STD", "LITE_MEAN", "LITE_STD", "Backbone", "TapInfo", "WeightsUnavailable",
    "classification_input", "imagenet_categories", "layer_table", "lite0_weights_file", "load_backbone",
    "weights_url")}
__all__ = [*_NAMES, "BACKBONES", "DEFAULT_BACKBONE"]  # noqa: PLE0604 (names of a lazy face)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
