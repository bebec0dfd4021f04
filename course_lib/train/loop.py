"""The fine-tuning loop: choose negatives, step, validate, checkpoint; resumable, stops on NaN.

Two ways to choose negatives, one loop:
- tuples (cirtorch, notebook 02): one round of mining per epoch with the current network (hard or
  random), then `tuples_per_epoch` tuples (query, positive, N negatives) in steps of `batch_tuples`;
- per-batch sampling (`sampler`, notebook 05): each step holds P objects x K views, embedded with the
  current network, and `samplers.sample_triplets` picks every pair's negative inside the batch
  (random, hard, semi-hard, distance-weighted); the loss is the triplet hinge;
- classification retraining (loss "classification", neural codes): the same P x K batches, a cosine
  classifier over the training objects on top of the descriptors, cross-entropy; the descriptors
  (no classifier) are the codes.
Each epoch ends with the validation mAP; epoch 0 in the history is the network before any step.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..datasets.tuples import ObjectViews, TuplePairs, object_views, tuple_pairs
from ..experiment import score_ranking
from ..index import rank_database
from ..models.retrieval import RetrievalNet, TopOverMaps
from . import distributed
from .checkpoint import CheckpointError, load_state, read_sidecar, save_checkpoint, sidecar_path
from .frozen import FrozenMaps, describe_dataset
from .losses import DEFAULT_MARGINS, LOSSES, triplet_hinge
from .mining import hard_negatives, random_negatives
from .samplers import SAMPLERS, sample_triplets

TRAINING_LOSSES = (*LOSSES, "classification")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step."""


@dataclass
class TrainSettings:
    """Everything that determines a training run (recorded in the checkpoint's sidecar)."""

    loss: str = "contrastive"          # "contrastive", "triplet" or "classification" (over object ids)
    margin: float | None = None        # default: losses.DEFAULT_MARGINS (cirtorch's)
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
    sampler: str | None = None         # per-batch triplet sampling (notebook 05); None: tuples mined per epoch
    objects_per_batch: int = 8         # P objects per batch (with a sampler)
    views_per_object: int = 4          # K views of each (with a sampler): the query crop and positives

    def __post_init__(self):
        if self.loss not in TRAINING_LOSSES:
            raise ValueError(f"loss {self.loss!r}: choose one of {', '.join(TRAINING_LOSSES)}")
        if self.loss == "classification" and self.sampler is not None:
            raise ValueError(f"sampler {self.sampler!r}: classification retraining samples no triplets; "
                             f"leave sampler None")
        if self.mining not in ("hard", "random"):
            raise ValueError(f"mining {self.mining!r}: choose hard or random")
        if self.sampler is not None:
            if self.sampler not in SAMPLERS:
                raise ValueError(f"sampler {self.sampler!r}: choose one of {', '.join(SAMPLERS)}")
            if self.loss != "triplet":
                raise ValueError(f"sampler {self.sampler!r} trains the triplet loss; set loss='triplet'")
        if self.per_batch and (self.objects_per_batch < 2 or self.views_per_object < 2):
            raise ValueError(f"a batch needs two objects and two views of each or more, not "
                             f"{self.objects_per_batch} x {self.views_per_object}")
        for name in ("epochs", "negatives", "batch_tuples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.margin is None and self.loss in DEFAULT_MARGINS:
            self.margin = DEFAULT_MARGINS[self.loss]

    @property
    def per_batch(self) -> bool:
        """Batches of P objects x K views (a sampler, or classification) rather than mined tuples."""
        return self.sampler is not None or self.loss == "classification"

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
    query_classes = ([pairs.query_class[pairs.anchor_query[k]] for k in pair_ids] if pairs.query_class is not None
                     else None)
    if settings.mining == "hard":
        chosen = hard_negatives(similarity, forbidden, pairs.pool_classes, settings.negatives, query_classes)
    else:
        chosen = random_negatives(len(pairs.pool), forbidden, pairs.pool_classes, settings.negatives, rng,
                                  query_classes)
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
    pairs = tuple_pairs(train_set)
    objects = object_views(train_set) if settings.per_batch else None
    # Classification retraining adds a classifier over the training objects; it is not part of the
    # network (the codes are the descriptors) and is not saved: a resumed run starts it anew.
    head = TopOverMaps(net, classes=len(objects) if settings.loss == "classification" else None).to(device)
    optimizer = torch.optim.Adam([
        {"params": [p for n, p in head.named_parameters() if p.requires_grad and not n.startswith("net.gem.")]},
        {"params": list(net.gem.parameters()), "lr": settings.lr * 10, "weight_decay": 0.0}],
        lr=settings.lr, weight_decay=settings.weight_decay)
    maps = FrozenMaps(net, settings.max_side)
    maps.add(pairs.pool, progress=progress and "trunk maps: pool")
    maps.add(train_set.queries, train_set.bboxes, progress=progress and "trunk maps: queries")
    size = distributed.world()[1]
    describer = head
    if size > 1:
        # DDP averages the gradients of the processes in backward; each process takes its share of a step.
        describer = torch.nn.parallel.DistributedDataParallel(
            describer, device_ids=[device.index if device.index is not None else torch.cuda.current_device()]
            if device.type == "cuda" else None, broadcast_buffers=False)
    checkpoint = Path(out_dir) / "last.pt" if out_dir is not None else None
    record = {"data": {"train": data_name or train_set.name, "val": val_set.name, "pairs": len(pairs)},
              "training": settings.as_dict(), "processes": size}
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
                        "satisfied": None, "mining_s": 0.0, "step_s": 0.0})
    # The trained top is small: on a CPU one thread runs it faster than several (no sync overhead).
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        run = Run(net, describer, optimizer, pairs, objects, maps, settings, checkpoint, device)
        _run_epochs(run, val_set, history, first_epoch, record, progress)
    finally:
        torch.set_num_threads(threads)
    return TrainResult(net, history, checkpoint)


@dataclass
class Run:
    """What every step of one training run needs."""

    net: RetrievalNet
    describer: torch.nn.Module          # TopOverMaps, wrapped in DDP when distributed
    optimizer: torch.optim.Optimizer
    pairs: TuplePairs
    objects: ObjectViews | None
    maps: FrozenMaps
    settings: TrainSettings
    checkpoint: Path | None
    device: torch.device

    def describe(self, paths, boxes) -> torch.Tensor:
        """(N, D) descriptors with gradients, in one forward call (one gradient reduction under DDP)."""
        return self.describer(self.maps.tensors(paths, boxes, self.device))


def _run_epochs(run: Run, val_set, history, first_epoch, record, progress) -> None:
    settings = run.settings
    rank, _ = distributed.world()
    for epoch in range(first_epoch, settings.epochs + 1):
        rng = np.random.default_rng([settings.seed, epoch])
        bar_label = f"epoch {epoch}/{settings.epochs}"
        if settings.per_batch:
            row = _batch_epoch(run, epoch, rng, progress and rank == 0 and bar_label)
        else:
            row = _tuple_epoch(run, epoch, rng, progress and rank == 0 and bar_label)
        val_map, _ = validation_map(run.net, val_set, run.maps)
        history.append({"epoch": epoch, "val_map": val_map, "p": run.net.p, **row})
        if run.checkpoint is not None and rank == 0:
            save_checkpoint(run.checkpoint, run.net, {**record, "epoch": epoch, "history": history,
                                                      "written_by_rank": rank},
                            run.optimizer.state_dict())


def _tuple_epoch(run: Run, epoch: int, rng, progress) -> dict:
    """Mine once with the current network, then step on tuples (this process's share of each step)."""
    settings, pairs = run.settings, run.pairs
    pair_ids = pairs.sample(settings.tuples_per_epoch, rng)
    start = time.perf_counter()
    negatives, negative_similarity = mine(run.net, pairs, pair_ids, settings, run.maps, rng)
    mining_s = time.perf_counter() - start
    start = time.perf_counter()
    losses = []
    steps = math.ceil(len(pair_ids) / settings.batch_tuples)
    rank, size = distributed.world()
    bar = tqdm(range(steps), desc=progress or "", disable=not progress, unit="step")
    for step in bar:
        batch = list(range(step * settings.batch_tuples, min(len(pair_ids), (step + 1) * settings.batch_tuples)))
        share = distributed.my_share(batch, rank, size)
        # A process left without a tuple still takes part in the step (DDP needs every process's
        # backward): it describes the first tuple and counts it with weight 0.
        weight = 1.0 if share else 0.0
        share = share or batch[:1]
        paths, boxes, sizes = [], [], []
        for j in share:
            k = pair_ids[j]
            tuple_paths = [pairs.anchors[k], pairs.positives[k], *(pairs.pool[i] for i in negatives[j])]
            paths += tuple_paths
            boxes += [pairs.anchor_boxes[k]] + [None] * (len(tuple_paths) - 1)
            sizes.append(len(tuple_paths))
        run.optimizer.zero_grad(set_to_none=False)
        d = run.describe(paths, boxes)
        tuple_losses = [LOSSES[settings.loss](t[0], t[1], t[2:], margin=settings.margin)
                        for t in torch.split(d, sizes)]
        my_sum = weight * torch.stack(tuple_losses).sum()
        _step(run, my_sum, len(batch), epoch, step, losses)
        bar.set_postfix(loss=f"{np.mean(losses):.4f}", p=f"{run.net.p:.2f}")
    return {"loss": float(np.mean(losses)), "negative_similarity": negative_similarity, "satisfied": None,
            "mining_s": mining_s, "step_s": time.perf_counter() - start}


def _batch_epoch(run: Run, epoch: int, rng, progress) -> dict:
    """Every object once, in batches of P objects x K views; negatives sampled inside each batch
    (or, for classification retraining, cross-entropy over the objects)."""
    settings = run.settings
    rank, size = distributed.world()
    batches = run.objects.batches(settings.objects_per_batch, rng)
    losses, satisfied, similarity, counts = [], [], [], []
    sampling_s, start = 0.0, time.perf_counter()
    bar = tqdm(batches, desc=progress or "", disable=not progress, unit="batch")
    for step, object_ids in enumerate(bar):
        batch = run.objects.batch(object_ids, settings.views_per_object, rng)
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
        run.optimizer.zero_grad(set_to_none=False)
        out = run.describe(batch["paths"], batch["boxes"])
        if settings.loss == "classification":
            d, logits = out
            labels = torch.as_tensor(batch["labels"], device=d.device)
            terms = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
            satisfied.append(float((logits.argmax(dim=1) == labels).float().mean()))
        else:
            d = out
            began = time.perf_counter()
            a, p, n = sample_triplets(d, batch["labels"], settings.sampler, settings.margin, generator,
                                      torch.from_numpy(batch["excluded"]))
            sampling_s += time.perf_counter() - began
            terms = triplet_hinge(d[a], d[p], d[n], settings.margin)
            if len(terms):
                satisfied.append(float((terms == 0).float().mean()))
                similarity.append(float((d[a] * d[n]).detach().sum(dim=1).mean()))
        # This process's share of the terms; every process computed the same ones (same seed, same network).
        mine_sum = terms[rank::size].sum() if len(terms) else d.sum() * 0
        _step(run, mine_sum, max(len(terms), 1), epoch, step, losses)
        if len(terms):
            counts.append(len(terms))
        bar.set_postfix(loss=f"{np.mean(losses):.4f}", p=f"{run.net.p:.2f}")
    weights = np.asarray(counts, dtype=float)

    def mean(values):
        return float(np.average(values, weights=weights)) if len(values) else float("nan")

    row = {"loss": float(np.mean(losses)), "mining_s": sampling_s, "step_s": time.perf_counter() - start - sampling_s}
    if settings.loss == "classification":
        return {**row, "accuracy": mean(satisfied), "negative_similarity": None, "satisfied": None}
    return {**row, "negative_similarity": mean(similarity), "satisfied": mean(satisfied), "triplets": int(weights.sum())}


def _step(run: Run, my_sum: torch.Tensor, count: int, epoch: int, step: int, losses: list) -> None:
    """Back-propagate the mean loss of a step whose `count` terms are spread over the processes, check it
    is finite, and take the optimizer step. DDP averages gradients over processes, so each process's
    part is scaled by their number: the step equals one process's over the whole batch."""
    _, size = distributed.world()
    loss = distributed.sum_value(my_sum.detach()) / count
    if not torch.isfinite(loss):
        checkpoint = run.checkpoint
        kept = (f"the checkpoint of epoch {epoch - 1} in {checkpoint} is kept" if checkpoint is not None
                and checkpoint.exists() else "no checkpoint was written")
        raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch}, step {step + 1}: training "
                               f"stopped ({kept}); lower the learning rate (now {run.settings.lr})")
    (my_sum * size / count).backward()
    run.optimizer.step()
    losses.append(loss.item())


def _start_as_identity(layer: torch.nn.Linear) -> None:
    """A whitening layer that starts as the identity (no change), so training starts from the pretrained ranking."""
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[:, : layer.in_features].copy_(torch.eye(layer.out_features, layer.in_features))
        layer.bias.zero_()


def train_cached(train_set, val_set, settings: TrainSettings, backbone=None, progress: bool = True,
                 device=None) -> TrainResult:
    """`train`, or the checkpoint an earlier run with the same settings and data left in the cache folder
    (cache kind "training", keyed by the settings and the content of every image); an interrupted run is
    resumed."""
    from ..cache import cache_folder, content_key, images_fingerprint
    from .checkpoint import load_checkpoint

    spec = {"settings": settings.as_dict(), "backbone": getattr(backbone, "name", None),
            "train": [train_set.name, images_fingerprint([*train_set.images, *train_set.queries]), train_set.gnd,
                      train_set.bboxes],
            "val": [val_set.name, images_fingerprint([*val_set.images, *val_set.queries]), val_set.gnd,
                    val_set.bboxes]}
    out = cache_folder("training") / content_key(spec, length=16)
    checkpoint = out / "last.pt"
    if checkpoint.exists():
        try:
            record = read_sidecar(checkpoint)
            if record.get("epoch") == settings.epochs:
                net, _ = load_checkpoint(checkpoint, device=device, backbone=backbone)
                return TrainResult(net, record["history"], checkpoint)
        except CheckpointError as err:  # a damaged cache entry: said in one line, trained again from the start
            warnings.warn(f"damaged training cache entry ({err}); training again", stacklevel=2)
            for damaged in (checkpoint, sidecar_path(checkpoint)):
                damaged.unlink(missing_ok=True)
    return train(train_set, val_set, settings, backbone=backbone, out_dir=out, resume=True, progress=progress,
                 device=device)
