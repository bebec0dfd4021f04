"""Detector checkpoints in the fine-tuning format (train.checkpoint): the trainable weights as a state dict
(+ optimizer state for resuming) and a JSON sidecar that says how to rebuild the network; weights_only loading.
Also the trained detector cached as such a checkpoint, keyed by its training settings and its scenes' content."""
from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import config
from ..cache import cache_folder, content_key
from ..train.checkpoint import CheckpointError, load_weights_into, read_sidecar, write_checkpoint

FORMAT = "course_lib.detector-checkpoint/1"
DETECTOR_VERSION = 4   # the cache key's version; 4: keyed by the scenes' content too


def network_settings(model, class_names) -> dict:
    """What `build_detector` needs to rebuild `model` (recorded in the sidecar)."""
    from .detector import ANCHOR_RATIOS, ANCHOR_SIZES, HEAD_WIDTH

    return {"architecture": "torchvision FasterRCNN", "backbone": model.backbone.backbone.name,
            "tap": model.backbone.tap, "num_classes": len(class_names) + 1, "class_names": list(class_names),
            "anchors": [list(ANCHOR_SIZES), list(ANCHOR_RATIOS)], "head": HEAD_WIDTH,
            "min_size": model.transform.min_size[0], "max_size": model.transform.max_size}


def save_detector(path: str | Path, model, class_names, record: dict, optimizer_state: dict | None = None,
                  rng_state: torch.Tensor | None = None) -> Path:
    """Write the detector's trainable weights (and, for resuming, the optimizer state and torch's random
    state, which the RPN's and the head's box sampling draw from) to `path` and its description beside it
    (same name, .json), each atomically: a crash leaves the previous checkpoint whole."""
    from .detector import trainable_state

    return write_checkpoint(path, {"weights": {k: v.cpu() for k, v in trainable_state(model).items()},
                                   "optimizer": optimizer_state, "rng": rng_state},
                            {"format": FORMAT, "network": network_settings(model, class_names), **record})


def read_detector_sidecar(path: str | Path) -> dict:
    """The sidecar of a detector checkpoint; CheckpointError (one line) when it is missing or foreign."""
    return read_sidecar(path, FORMAT, kind="detector")


def load_detector(path: str | Path, device=None, backbone=None):
    """(detector with the trained weights in eval mode, sidecar record, the saved state: {"optimizer", "rng"}).
    `backbone`: reuse a loaded backbone of the same name."""
    from ..models import load_backbone
    from .detector import build_detector

    path = Path(path)
    record = read_detector_sidecar(path)
    network = record["network"]
    if backbone is None or backbone.name != network["backbone"]:
        backbone = load_backbone(network["backbone"], device="cpu")
    model = build_detector(network["num_classes"], tap=network["tap"], min_size=network["min_size"],
                           max_size=network["max_size"], backbone=backbone)
    state = load_weights_into(model, path, frozen_prefix="backbone.backbone.", kind="detector")
    return model.to(device or "cpu").eval(), record, {"optimizer": state.get("optimizer"), "rng": state.get("rng")}


def detector_key(**settings) -> str:
    """The cache name of a detector trained with these settings (and this kit's version of it, and torch's)."""
    return content_key({"version": DETECTOR_VERSION, "torch": torch.__version__.split("+")[0], **settings}, 16)


def scenes_fingerprint(scenes: Sequence) -> str:
    """Hash of the scenes' pixels, boxes and labels: a detector cached for other scenes is never reused."""
    digest = hashlib.sha256()
    for scene in scenes:
        for part in (scene.image, scene.boxes, scene.labels):
            digest.update(np.ascontiguousarray(np.asarray(part)).tobytes())
    return digest.hexdigest()[:20]


def trained_detector(scenes: Sequence, num_classes: int, steps: int = 150, batch_size: int = 4, lr: float = 0.01,
                     seed: int = 0, scene_seed: int = 0, progress: bool = True, device: str = "cpu",
                     class_names: Sequence[str] | None = None) -> tuple:
    """Build and train the detector, or load it from the cache folder when these settings trained one
    before. The cache file is a detector checkpoint as `save_detector` writes it, so
    `python -m course_lib` can use it too. Returns the model (eval mode) and its record (settings,
    losses, seconds, cache file)."""
    from .detector import ANCHOR_RATIOS, ANCHOR_SIZES, DEFAULT_TAP, HEAD_WIDTH, build_detector, train_detector

    class_names = list(class_names or [f"class {i}" for i in range(1, num_classes)])
    settings = {"scenes": len(scenes), "scene_seed": scene_seed, "num_classes": num_classes, "steps": steps,
                "batch_size": batch_size, "lr": lr, "seed": seed, "tap": DEFAULT_TAP,
                "anchors": [list(ANCHOR_SIZES), list(ANCHOR_RATIOS)], "head": HEAD_WIDTH}
    path = cache_folder("detection") / f"detector-{detector_key(**settings, content=scenes_fingerprint(scenes))}.pt"
    if path.is_file():
        try:
            model, record, _ = load_detector(path)
            return model, {**record, "cached": True}
        except CheckpointError as err:  # a damaged cache entry: said in one line, trained again and replaced
            warnings.warn(f"damaged detector cache entry ({err}); training again", stacklevel=2)
    torch.manual_seed(seed)
    model = build_detector(num_classes)
    start = time.perf_counter()
    history = train_detector(model, scenes, steps, batch_size, lr, seed, progress, device)
    model.cpu()
    record = {"settings": settings, "losses": history, "seconds": time.perf_counter() - start,
              "file": config.display_path(path), "step": steps}
    save_detector(path, model, class_names, record)
    return model, {**record, "cached": False}
