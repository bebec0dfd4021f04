"""Checkpoints: the trained weights (torch.save of a state dict) plus a JSON sidecar of what produced them.

The sidecar (same name, .json) records the network settings (backbone, tap, trained stages,
p, whitening), the data, the training settings, the epoch and the history, so a checkpoint
can be rebuilt and evaluated without the code that trained it. Weights load with weights_only=True.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from ..files import atomic_write, write_json
from ..models.retrieval import RetrievalNet

FORMAT = "course_lib.retrieval-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, damaged, or not made by this kit (one line)."""


def sidecar_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_checkpoint(path: str | Path, net: RetrievalNet, record: dict, optimizer_state: dict | None = None) -> Path:
    """Write the trainable weights (and optimizer state, for --resume) to `path` and `record` beside it,
    each atomically: a crash leaves the previous checkpoint whole."""
    return write_checkpoint(path, {"weights": net.trainable_state(), "optimizer": optimizer_state},
                            {"format": FORMAT, "network": net.settings, "fingerprint": net.fingerprint(), **record})


def write_checkpoint(path: str | Path, state: dict, sidecar: dict) -> Path:
    """torch.save of `state` (a dict of tensors and plain values) to `path` and `sidecar` as JSON beside it,
    each written atomically. Shared by every kind of checkpoint the kit writes (retrieval, detector)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    write_json(sidecar_path(path), sidecar)
    return path


def read_sidecar(path: str | Path, expected_format: str = FORMAT, kind: str = "retrieval") -> dict:
    """The sidecar of the checkpoint at `path`; CheckpointError (one line) when either file is missing,
    the sidecar is not JSON, or it was written for another kind of checkpoint than `expected_format`."""
    path = Path(path)
    side = sidecar_path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    if not side.is_file():
        raise CheckpointError(f"checkpoint {path}: its description {side.name} is missing beside it")
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{side}: not readable JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format") != expected_format:
        raise CheckpointError(f"{side}: not a course_lib {kind} checkpoint (format {expected_format})")
    return record


def load_checkpoint(path: str | Path, device=None, backbone=None) -> tuple[RetrievalNet, dict]:
    """(network with the trained weights, sidecar record). `backbone`: reuse a loaded one of the same name."""
    from ..models import load_backbone

    path = Path(path)
    record = read_sidecar(path)
    settings = record["network"]
    if backbone is None or backbone.name != settings["backbone"]:
        backbone = load_backbone(settings["backbone"], device=device or "cpu")
    net = RetrievalNet(backbone, tap=settings["tap"], train_from=settings["train_from"], p=settings["p"],
                       whitening_dim=settings.get("whitening_dim"))
    load_weights_into(net, path, frozen_prefix="trunk_stages.", kind="network")
    return net.to(device or "cpu"), record


def load_weights_into(module: torch.nn.Module, path: str | Path, frozen_prefix: str, kind: str) -> dict:
    """Load a checkpoint's trainable weights into `module` (its frozen, pretrained part, the names starting with
    `frozen_prefix`, is not in the file) and return the saved state; CheckpointError when they do not fit."""
    state = load_state(path)
    missing, unexpected = module.load_state_dict(state["weights"], strict=False)
    missing = [k for k in missing if not k.startswith(frozen_prefix)]
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path}: weights do not fit the {kind} its sidecar describes "
                              f"({len(missing)} missing, {len(unexpected)} unexpected)")
    return state


def load_state(path: str | Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types on a truncated or foreign file
        raise CheckpointError(f"checkpoint {path}: cannot be read ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else 'damaged'})") from None
    if not isinstance(state, dict) or "weights" not in state:
        raise CheckpointError(f"checkpoint {path}: not a course_lib checkpoint (no weights)")
    return state
