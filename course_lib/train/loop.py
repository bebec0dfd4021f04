"""The fine-tuning loop: mine negatives, step on tuples, validate, checkpoint; resumable, stops on NaN.

One epoch = one round of negative mining with the current network (hard or random), then
`tuples_per_epoch` tuples (query, positive, N negatives) in steps of `batch_tuples`, then the
validation mAP. Epoch 0 in the history is the network before any step.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..datasets.tuples import TuplePairs, tuple_pairs
from ..experiment import score_ranking
from ..index import rank_database
from ..models.retrieval import RetrievalNet
from . import distributed
from .checkpoint import load_state, read_sidecar, save_checkpoint
from .frozen import FrozenMaps, describe_dataset
from .losses import DEFAULT_MARGINS, LOSSES
from .mining import hard_negatives, random_negatives


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step."""


@dataclass
class TrainSettings:
    """Everything that determines a training run (recorded in the checkpoint's sidecar)."""

    loss: str = "contrastive"          # "contrastive" or "triplet"
    margin: float | None = None        # default: 0.7 contrastive, 0.1 triplet (cirtorch's)
    epochs: int = 5
    mining: str = "hard"               # "hard" (nearest non-matching, one per class) or "random"
    negatives: int = 5                 # N negatives per tuple
    tuples_per_epoch: int | None = None  # None: every (query, positive) pair once
    batch_tuples: int = 5              # tuples per optimizer step
    lr: float = 1e-4                   # Adam; p gets 10x, as in cirtorch
    weight_decay: float = 1e-4
    max_side: int | None = 320         # longer image side in training and validation
    tap: str | None = None             # conv stage GeM pools (default: the backbone's last)
    train_from: str | None = None      # first trained stage (default: only the tap's stage)
    p: float = 3.0                     # initial GeM exponent
    whitening_dim: int | None = None   # learn a whitening layer end to end (None: no layer)
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        if self.mining not in ("hard", "random"):
            raise ValueError(f"mining {self.mining!r}: choose hard or random")
        for name in ("epochs", "negatives", "batch_tuples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.margin is None:
            self.margin = DEFAULT_MARGINS[self.loss]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    net: RetrievalNet
    history: list[dict] = field(default_factory=list)  # one row per epoch (0 = before training)
    checkpoint: Path | None = None


def validation_map(net: RetrievalNet, dataset, maps: FrozenMaps) -> tuple[float, list[float]]:
    """mAP (and per-query AP) of `dataset` at the Medium level, with descriptors from `net`."""
    desc = describe_dataset(net, dataset, maps.max_side, maps)
    ranks = rank_database(desc.db["gem-ft"], desc.queries["gem-ft"])
    scores = score_ranking(dataset, ranks)
    return scores["map"], scores["per_query_ap"]


def mine(net: RetrievalNet, pairs: TuplePairs, pair_ids: list[int], settings: TrainSettings, maps: FrozenMaps,
         rng) -> tuple[list[list[int]], float]:
    """Negatives for the chosen pairs, and the mean similarity of anchor to negative (how hard they are)."""
    anchors = maps.describe([pairs.anchors[k] for k in pair_ids], [pairs.anchor_boxes[k] for k in pair_ids])
    pool = maps.describe(pairs.pool)
    similarity = (anchors @ pool.T).numpy()
    forbidden = [pairs.forbidden[pairs.anchor_query[k]] for k in pair_ids]
    if settings.mining == "hard":
        chosen = hard_negatives(similarity, forbidden, pairs.pool_classes, settings.negatives)
    else:
        chosen = random_negatives(len(pairs.pool), forbidden, pairs.pool_classes, settings.negatives, rng)
    picked = [similarity[row, ids].mean() for row, ids in enumerate(chosen) if ids]
    return chosen, float(np.mean(picked)) if picked else float("nan")


def train(train_set, val_set, settings: TrainSettings, backbone=None, out_dir: str | Path | None = None,
          resume: bool = False, progress: bool = True, device=None, data_name: str | None = None) -> TrainResult:
    """Fine-tune a RetrievalNet on `train_set`'s (query, positive) pairs; validate on `val_set` each epoch.

    out_dir: write out_dir/last.pt (+ last.json) after every epoch; resume: continue from it.
    A NaN or infinite loss raises TrainingDiverged naming the epoch and step; the checkpoint of
    the last finished epoch stays as it was.
    """
    from ..models import load_backbone

    device = torch.device(device or "cpu")
    backbone = backbone or load_backbone(device=device)
    torch.manual_seed(settings.seed)
    net = RetrievalNet(backbone, tap=settings.tap, train_from=settings.train_from, p=settings.p,
                       whitening_dim=settings.whitening_dim).to(device)
    if net.whitening is not None:
        _start_as_identity(net.whitening)
    optimizer = torch.optim.Adam([
        {"params": [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith("gem.")]},
        {"params": list(net.gem.parameters()), "lr": settings.lr * 10, "weight_decay": 0.0}],
        lr=settings.lr, weight_decay=settings.weight_decay)
    pairs = tuple_pairs(train_set)
    maps = FrozenMaps(net, settings.max_side)
    maps.add(pairs.pool, progress=progress and "trunk maps: pool")
    maps.add(train_set.queries, train_set.bboxes, progress=progress and "trunk maps: queries")
    checkpoint = Path(out_dir) / "last.pt" if out_dir is not None else None
    record = {"data": {"train": data_name or train_set.name, "val": val_set.name, "pairs": len(pairs)},
              "training": settings.as_dict()}
    history: list[dict] = []
    first_epoch = 1
    if resume and checkpoint is not None and checkpoint.exists():
        done = read_sidecar(checkpoint)
        # Only the number of epochs may change: resuming is how a run is extended.
        changed = sorted(k for k, v in settings.as_dict().items()
                         if k != "epochs" and done.get("training", {}).get(k) != v)
        if changed:
            raise ValueError(f"--resume: {checkpoint} was trained with other settings ({', '.join(changed)}); "
                             f"use the same settings or another --out folder")
        state = load_state(checkpoint)
        net.load_state_dict(state["weights"], strict=False)
        if state.get("optimizer"):
            optimizer.load_state_dict(state["optimizer"])
        history, first_epoch = done["history"], done["epoch"] + 1
    if not history:
        val_map, _ = validation_map(net, val_set, maps)
        history.append({"epoch": 0, "loss": None, "val_map": val_map, "p": net.p, "negative_similarity": None,
                        "mining_s": 0.0, "step_s": 0.0})
    # The trained top is small: on a CPU one thread runs it faster than several (no sync overhead).
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        _run_epochs(net, optimizer, pairs, maps, val_set, settings, history, first_epoch, checkpoint, record, progress)
    finally:
        torch.set_num_threads(threads)
    return TrainResult(net, history, checkpoint)


def _run_epochs(net, optimizer, pairs, maps, val_set, settings, history, first_epoch, checkpoint, record,
                progress) -> None:
    for epoch in range(first_epoch, settings.epochs + 1):
        rng = np.random.default_rng([settings.seed, epoch])
        pair_ids = pairs.sample(settings.tuples_per_epoch, rng)
        start = time.perf_counter()
        negatives, negative_similarity = mine(net, pairs, pair_ids, settings, maps, rng)
        mining_s = time.perf_counter() - start
        start = time.perf_counter()
        losses = []
        steps = math.ceil(len(pair_ids) / settings.batch_tuples)
        rank, size = distributed.world()
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{settings.epochs}", disable=not progress or rank > 0,
                   unit="step")
        for step in bar:
            batch = range(step * settings.batch_tuples, min(len(pair_ids), (step + 1) * settings.batch_tuples))
            optimizer.zero_grad(set_to_none=False)
            share = distributed.my_share(batch, rank, size)
            if share:
                mine_loss = sum(_tuple_loss(net, pairs, pair_ids[j], negatives[j], settings, maps) for j in share)
                (mine_loss / len(batch)).backward()
            else:
                mine_loss = torch.zeros(())
            loss = distributed.sum_value(mine_loss.detach()) / len(batch)
            if not torch.isfinite(loss):
                kept = (f"the checkpoint of epoch {epoch - 1} in {checkpoint} is kept" if checkpoint is not None
                        and checkpoint.exists() else "no checkpoint was written")
                raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch}, step {step + 1}: training "
                                       f"stopped ({kept}); lower the learning rate (now {settings.lr})")
            distributed.sum_gradients(net)
            optimizer.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses):.4f}", p=f"{net.p:.2f}")
        step_s = time.perf_counter() - start
        val_map, _ = validation_map(net, val_set, maps)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_map": val_map, "p": net.p,
                        "negative_similarity": negative_similarity, "mining_s": mining_s, "step_s": step_s})
        if checkpoint is not None and rank == 0:
            save_checkpoint(checkpoint, net, {**record, "epoch": epoch, "history": history},
                            optimizer.state_dict())


def _tuple_loss(net, pairs: TuplePairs, k: int, negative_ids: list[int], settings: TrainSettings,
                maps: FrozenMaps) -> torch.Tensor:
    paths = [pairs.anchors[k], pairs.positives[k], *(pairs.pool[i] for i in negative_ids)]
    boxes = [pairs.anchor_boxes[k]] + [None] * (len(paths) - 1)
    d = maps.describe(paths, boxes, grad=True)
    return LOSSES[settings.loss](d[0], d[1], d[2:], margin=settings.margin)


def _start_as_identity(layer: torch.nn.Linear) -> None:
    """A whitening layer that starts as the identity (no change), so training starts from the pretrained ranking."""
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[:, : layer.in_features].copy_(torch.eye(layer.out_features, layer.in_features))
        layer.bias.zero_()


def train_cached(train_set, val_set, settings: TrainSettings, backbone=None, progress: bool = True,
                 device=None) -> TrainResult:
    """`train`, or the checkpoint an earlier run with the same settings and data left in the cache folder
    (config.home_dir()/training/<key>); an interrupted run is resumed."""
    import hashlib
    import json

    from .. import config
    from .checkpoint import load_checkpoint

    spec = {"settings": settings.as_dict(), "backbone": getattr(backbone, "name", None),
            "train": [train_set.name, [str(Path(q).name) for q in train_set.queries], train_set.gnd],
            "val": [val_set.name, [str(Path(q).name) for q in val_set.queries]]}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    out = config.home_dir() / "training" / key
    checkpoint = out / "last.pt"
    if checkpoint.exists():
        record = read_sidecar(checkpoint)
        if record.get("epoch") == settings.epochs:
            net, _ = load_checkpoint(checkpoint, device=device, backbone=backbone)
            return TrainResult(net, record["history"], checkpoint)
    return train(train_set, val_set, settings, backbone=backbone, out_dir=out, resume=True, progress=progress,
                 device=device)
