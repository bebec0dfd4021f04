"""Detector checkpoints in the fine-tuning format (train.checkpoint): the trainable weights as a state dict
(+ optimizer state for resuming) and a JSON sidecar that says how to rebuild the network; weights_only loading."""
from __future__ import annotations

from pathlib import Path

import torch

from ..train.checkpoint import load_weights_into, read_sidecar, write_checkpoint

FORMAT = "course_lib.detector-checkpoint/1"


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
