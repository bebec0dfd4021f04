"""Batched descriptor extraction over a dataset, with an on-disk cache.

One pass of the backbone per image (and per scale) feeds every requested pooling
method, so comparing MAC, SPoC, GeM and R-MAC costs one extraction, not four.
Descriptors are cached in the "descriptors" cache folder (`descriptor_cache`), keyed by everything
that determines them, so rerunning a notebook does not recompute them.
"""
from __future__ import annotations

import contextlib
import os
import weakref
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from .cache import ARRAYS, write_entry
from .descriptor_cache import DESCRIPTOR_ENTRY, Descriptors, cache_file, cache_key, read_descriptors
from .images import image_size, load_image, shrunk_size
from .pooling import pool, pooling_method

FC_DESCRIPTOR = "code"  # name of the descriptor read from a fully connected tap
POOL_GROUP_IMAGES = 32  # maps of one shape pooled in one call (benchmarks/extract.py, "six poolings")
POOL_GROUP_BYTES = 256 * 2 ** 20  # maps held waiting for their group at most; past it the largest group is pooled


def image_tensor(path, max_side: int | None, bbox=None) -> torch.Tensor:
    """(3, H, W) float tensor in [0, 1]: decoded, cropped to bbox, longer side <= max_side."""
    pixels = np.array(load_image(path, max_side=max_side, bbox=bbox))  # (H, W, 3) uint8 RGB, a writable copy
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous().float().div_(255)


class _Images(torch.utils.data.Dataset):
    def __init__(self, paths, max_side, bboxes=None):
        self.paths, self.max_side = list(paths), max_side
        self.bboxes = list(bboxes) if bboxes is not None else [None] * len(self.paths)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return i, image_tensor(self.paths[i], self.max_side, self.bboxes[i])


def _same_size_batches(paths, max_side, bboxes, batch_size) -> list[list[int]]:
    """Group images whose resized shapes are equal, so they can share a batch unpadded.

    Padding would change every pooled value, so images of different shapes never mix.
    Shapes come from the file headers (no decoding); with batches of one there is nothing
    to group and no header is read.
    """
    if batch_size == 1:
        return [[i] for i in range(len(paths))]
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, path in enumerate(paths):
        if bboxes is not None and bboxes[i] is not None:
            groups[("crop", i)].append(i)  # each query crop has its own shape
            continue
        w, h = image_size(path)
        groups[shrunk_size(w, h, max_side)].append(i)
    batches = []
    for members in groups.values():
        batches += [members[j:j + batch_size] for j in range(0, len(members), batch_size)]
    return sorted(batches, key=lambda b: b[0])


def _collate(items):
    ids = [i for i, _ in items]
    return ids, torch.stack([t for _, t in items])


def resolve_method(spec: str, backbone, default_tap: str | None = None) -> tuple[str, str]:
    """(pooling, tap) for a method name.

    "gem" pools the default conv map (the backbone's last conv layer unless
    `default_tap` says otherwise); "gem@blocks5" pools another conv layer; a fully
    connected tap's name alone ("fc7", "pool") or "code@fc7" is that activation, the
    neural code of Babenko et al.
    """
    name, _, tap = spec.partition("@")
    if not tap and name in backbone.taps and backbone.taps[name].kind == "fc":
        name, tap = FC_DESCRIPTOR, name
    tap = tap or default_tap or backbone.default_conv
    info = backbone.taps.get(tap)
    if info is None:
        raise ValueError(f"method {spec!r}: backbone {backbone.name} has no tap {tap!r}; "
                         f"taps: {', '.join(backbone.taps)}")
    if info.kind == "fc" and name != FC_DESCRIPTOR:
        raise ValueError(f"method {spec!r}: tap {tap!r} is fully connected, use {tap!r} or '{FC_DESCRIPTOR}@{tap}'")
    if info.kind == "conv":
        pooling_method(name)  # an unknown name is a one-line ValueError listing the valid ones
    return name, tap


def default_batch_size(device) -> int:
    """Images per batch: 16 on a GPU, where batching pays (4.2x the images/s of a per-image loop on
    an H100), 1 on a CPU, where larger batches were slower (benchmarks/extract.py; README, "Measured")."""
    return 1 if torch.device(device).type == "cpu" else 16


FC_LABEL = "neural code"  # how menus and tables name a fully connected layer's activation (nothing pooled)


def methods_by_layer(methods: Sequence[str], backbone) -> dict[str, dict[str, str]]:
    """Method names grouped for menus: {layer: {pooling: method name}}, layers in network order.

    A fully connected layer's activation appears as pooling FC_LABEL ("neural code").
    """
    grouped: dict[str, dict[str, str]] = {}
    for method in methods:
        pooling, layer = resolve_method(method, backbone)
        grouped.setdefault(layer, {})[FC_LABEL if pooling == FC_DESCRIPTOR else pooling] = method
    order = list(backbone.taps)
    return {layer: grouped[layer] for layer in sorted(grouped, key=order.index)}


def _one_image(backbone, image, max_side: int | None, bbox=None) -> torch.Tensor:
    x = image if isinstance(image, torch.Tensor) else image_tensor(image, max_side=max_side, bbox=bbox)
    return x[None].to(next(backbone.parameters()).device)


@torch.inference_mode()
def conv_maps(backbone, image, taps: Sequence[str], max_side: int | None = 512) -> dict[str, torch.Tensor]:
    """Feature maps of one image at several layers, {tap: (C, H, W) tensor on the CPU}.

    image: a file path, or a (3, H, W) tensor in [0, 1] (then max_side is not applied).
    """
    with exact_float32():
        acts = backbone(_one_image(backbone, image, max_side), tuple(taps))
    return {tap: acts[tap][0].cpu() for tap in taps}


@torch.inference_mode()
def conv_map(backbone, image, tap: str | None = None, max_side: int | None = 512, bbox=None) -> torch.Tensor:
    """One image's (C, H, W) feature map on the CPU at `tap` (default: the last conv layer): the kit's one road
    from an image to its conv map, in true float32 on every device (`exact_float32`).

    image: a file path, cropped to `bbox` (x1, y1, x2, y2 in its pixels) if given, then shrunk to `max_side`;
    or a (3, H, W) tensor in [0, 1], used as it is.
    """
    with exact_float32():
        return backbone.conv_map(_one_image(backbone, image, max_side, bbox), tap)[0].cpu()


@contextlib.contextmanager
def exact_float32():
    """Convolutions and matrix products in true float32 inside the block, the previous settings after.

    cuDNN runs float32 convolutions in TF32 (a 10-bit mantissa) by default on recent NVIDIA GPUs, the
    likeliest cause of the 0.1-0.2 mAP differences seen on mini between an H200 and a CPU (not yet
    re-measured on a GPU). Descriptors must not depend on the device, so extraction turns TF32 off.
    No effect on a CPU.
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


_FOLDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _inference_copy(backbone):
    """`models.inference.inference_copy` of the backbone, made once and remade only when its weights change
    (a parameter or buffer replaced, moved to another device, or edited in place, as training does)."""
    from .models.inference import inference_copy

    state = tuple((id(t), t._version, t.data_ptr()) for t in (*backbone.parameters(), *backbone.buffers()))
    made = _FOLDED.get(backbone)
    if made is None or made[0] != state:
        made = (state, inference_copy(backbone))
        _FOLDED[backbone] = made
    return made[1]


@torch.inference_mode()
def describe_images(paths: Sequence, backbone, methods: Sequence[str], max_side: int | None = 512,
                    bboxes=None, scales: Sequence[float] = (1.0,), tap: str | None = None,
                    batch_size: int | None = None, num_workers: int | None = None, device=None,
                    progress: bool | str = True, amp: bool = False,
                    channels_last: bool = True, inference_copy: bool = True) -> dict[str, np.ndarray]:
    """L2-normalised global descriptors of images, one (N, D) array per method.

    methods: see `resolve_method`: pooling names from `course_lib.pooling.POOLINGS`,
    optionally "@tap" for another layer, or a fully connected tap's name. All methods
    share one forward pass per batch, however many layers they read.
    scales: multi-scale extraction as in Radenovic et al.: the image is resized by each
    factor, pooled, and the descriptors are summed and L2-normalised.
    batch_size: images of equal shape share a batch; default `default_batch_size(device)`.
    channels_last: run the network on channels-last batches (each pixel's channels adjacent in memory),
    what oneDNN's and cuDNN's fastest convolutions read: 1.1-1.4x the images/s of the default layout on
    a 2-core CPU (benchmarks/extract.py), descriptors equal to it within 1e-5 (rmac-integral 1e-3;
    tests/test_features.py). The output maps stay channels-last, which R-MAC's regions read fastest.
    inference_copy: run `models.inference.inference_copy` of the network (made once per backbone and its
    weights: batch norms folded into the convolutions, ReLU6 in place, "same" padding inside the
    convolutions): 1.2-1.4x the images/s on a 2-core CPU (benchmarks/extract.py), descriptors equal within
    1e-5 (tests/test_features.py). Ignored in train mode.
    amp: run the network in mixed precision (float16 on a GPU, bfloat16 on a CPU); pooling stays float32.
    Off by default, because it moves descriptors beyond rounding (a cosine of about 0.999 to float32's);
    without it the network runs in true float32 on every device (see `exact_float32`).
    """
    methods = list(methods)
    resolved = {m: resolve_method(m, backbone, tap) for m in methods}
    taps = tuple(dict.fromkeys(t for _, t in resolved.values()))
    device = torch.device(device) if device is not None else next(backbone.parameters()).device
    batch_size = default_batch_size(device) if batch_size is None else batch_size
    if num_workers is None:
        num_workers = 0 if device.type == "cpu" else min(4, os.cpu_count() or 1)
    n = len(paths)
    out = {m: np.zeros((n, backbone.taps[t].dim), dtype=np.float32) for m, (_, t) in resolved.items()}
    if n == 0:
        return out
    loader = torch.utils.data.DataLoader(
        _Images(paths, max_side, bboxes), batch_sampler=_same_size_batches(paths, max_side, bboxes, batch_size),
        collate_fn=_collate, num_workers=num_workers, pin_memory=device.type == "cuda")
    network = _inference_copy(backbone) if inference_copy and not backbone.training else backbone
    label = progress if isinstance(progress, str) else "extract"
    mixed = torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16,
                           enabled=amp)
    # Maps wait until POOL_GROUP_IMAGES images of their shape have been through the network, then are
    # pooled together: on small maps a pooling call costs about the same for one map as for thirty.
    waiting: dict[tuple, list] = {}  # input shape -> [(image ids, [{tap: maps} per scale])]
    held_bytes = 0

    def pool_waiting(shape) -> None:
        nonlocal held_bytes
        entries = waiting.pop(shape)
        ids = [i for entry_ids, _ in entries for i in entry_ids]
        summed: dict[str, torch.Tensor] = {}
        for s in range(len(scales)):
            maps = {t: torch.cat([per_scale[s][t] for _, per_scale in entries]) if len(entries) > 1
                    else entries[0][1][s][t] for t in taps}
            held_bytes -= sum(m.numel() * m.element_size() for m in maps.values())
            for m, (name, t) in resolved.items():
                act = maps[t].float()
                d = F.normalize(act, dim=1) if name == FC_DESCRIPTOR else pool(name, act)
                summed[m] = summed[m] + d if m in summed else d
        for m in methods:
            out[m][ids] = F.normalize(summed[m], dim=1).float().cpu().numpy()

    with tqdm(total=n, desc=label, disable=not progress, unit="img") as bar, exact_float32():
        for ids, batch in loader:
            batch = batch.to(device, non_blocking=True)
            if channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            per_scale = []
            for s in scales:
                x = batch if s == 1 else F.interpolate(batch, scale_factor=s, mode="bilinear",
                                                       align_corners=False, antialias=True)
                with mixed:
                    acts = network(x, taps)
                per_scale.append({t: acts[t] for t in taps})
                held_bytes += sum(acts[t].numel() * acts[t].element_size() for t in taps)
            group = waiting.setdefault(tuple(batch.shape[1:]), [])
            group.append((ids, per_scale))
            if sum(len(entry_ids) for entry_ids, _ in group) >= POOL_GROUP_IMAGES:
                pool_waiting(tuple(batch.shape[1:]))
            while held_bytes > POOL_GROUP_BYTES:
                pool_waiting(max(waiting, key=lambda k: len(waiting[k])))
            bar.update(len(ids))
        for shape in list(waiting):
            pool_waiting(shape)
    return out


def extract_descriptors(dataset, backbone, methods: Sequence[str] = ("mac", "spoc", "gem", "rmac"),
                        max_side: int | None = 512, scales: Sequence[float] = (1.0,), tap: str | None = None,
                        cache: bool = True, cache_dir: Path | None = None, device=None, batch_size: int | None = None,
                        progress: bool = True, amp: bool = False) -> Descriptors:
    """Database and query descriptors of a `RetrievalDataset`, computed once and cached.

    Queries are cropped to their box when the dataset gives one (the Oxford/Paris
    protocol). Datasets whose queries are database images (Holidays, UKBench) reuse the
    database descriptors instead of extracting twice.
    """
    methods = list(methods)
    keys = {}
    for m in methods:
        pooling, layer = resolve_method(m, backbone, tap)
        keys[m] = cache_key(dataset, backbone.name, layer, pooling, max_side, scales, amp)
    db: dict[str, np.ndarray] = {}
    queries: dict[str, np.ndarray] = {}
    missing = []
    for m in methods:
        cached = read_descriptors(cache_file(dataset, keys[m], cache_dir), len(dataset.images),
                                  len(dataset.queries)) if cache else None
        if cached is None:
            missing.append(m)
        else:
            db[m], queries[m] = cached
    if missing:
        common = dict(backbone=backbone, methods=missing, max_side=max_side, scales=scales, tap=tap,
                      device=device, batch_size=batch_size, amp=amp)
        new_db = describe_images(dataset.images, progress=progress and f"{dataset.name} database", **common)
        if dataset.query_ids is not None:
            new_q = {m: a[dataset.query_ids] for m, a in new_db.items()}
        else:
            new_q = describe_images(dataset.queries, bboxes=dataset.bboxes,
                                    progress=progress and f"{dataset.name} queries", **common)
        for m in missing:
            db[m], queries[m] = new_db[m], new_q[m]
            if cache:
                write_entry(cache_file(dataset, keys[m], cache_dir), {"db": new_db[m], "queries": new_q[m]},
                            ARRAYS, DESCRIPTOR_ENTRY)
    return Descriptors(db={m: db[m] for m in methods}, queries={m: queries[m] for m in methods})
