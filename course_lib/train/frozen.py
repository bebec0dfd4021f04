"""Feature maps of the frozen trunk, computed once per image and cached; descriptors through the trainable top.

Fine-tuning only the top stages means the trunk's output never changes: computing it once
(and keeping it on disk) makes every epoch, every mining round and every validation cheap.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..cache import TENSOR, box_spec, cache_folder, content_key, expect, read_or_compute
from ..features import Descriptors, exact_float32, image_tensor
from ..files import content_hash

CACHE_VERSION = 2  # 2: an image keyed by its content, not its name, size and time; maps in true float32


class FrozenMaps:
    """Trunk maps of images, {(path, bbox): (C, H, W) tensor}, filled on demand and cached on disk.

    One cache file per image (keyed by the network's trunk, the image size, the file's content and the crop
    box), so a rerun, or another subset of the same images, reads instead of recomputing. The trunk runs in
    true float32 on every device (`features.exact_float32`), so an entry does not depend on where it was made.
    """

    def __init__(self, net, max_side: int | None, cache: bool = True):
        self.net, self.max_side, self.cache = net, max_side, cache
        self.maps: dict[tuple, torch.Tensor] = {}

    @staticmethod
    def key(path, bbox=None) -> tuple:
        return (os.fspath(path), tuple(float(v) for v in bbox) if bbox is not None else None)

    def _cache_file(self, item: tuple) -> Path:
        path, bbox = item
        folder = content_key({"version": CACHE_VERSION, "backbone": self.net.backbone_name,
                              "train_from": self.net.train_from, "max_side": self.max_side}, 16)
        name = content_key([content_hash(path), box_spec(bbox)], 24)
        return cache_folder("trunk_maps") / folder / f"{name}{TENSOR.suffix}"

    def _compute(self, item: tuple) -> torch.Tensor:
        path, bbox = item
        x = image_tensor(path, max_side=self.max_side, bbox=bbox)[None].to(next(self.net.parameters()).device)
        with exact_float32():
            return self.net.trunk(x)[0].cpu()

    def add(self, paths, bboxes=None, progress: bool | str = False) -> None:
        """Compute (or read from the cache, one small file per image) the maps of these images."""
        bboxes = list(bboxes) if bboxes is not None else [None] * len(paths)
        items = list(dict.fromkeys(self.key(p, b) for p, b in zip(paths, bboxes)))
        todo = [k for k in items if k not in self.maps]
        if not todo:
            return
        for item in tqdm(todo, desc=progress if isinstance(progress, str) else "trunk maps",
                         disable=not progress, unit="img"):
            if not self.cache:
                self.maps[item] = self._compute(item)
                continue
            self.maps[item] = read_or_compute(
                self._cache_file(item), functools.partial(self._compute, item), TENSOR,
                lambda maps: expect(maps.dim() == 3 and maps.is_floating_point(),
                                    f"a {maps.dim()}-d {maps.dtype} tensor, not a (C, H, W) map"),
                "trunk map cache entry")

    def get(self, path, bbox=None) -> torch.Tensor:
        return self.maps[self.key(path, bbox)]

    def tensors(self, paths, bboxes=None, device=None) -> list[torch.Tensor]:
        """The maps of these images (computed or read if missing), on `device`."""
        bboxes = list(bboxes) if bboxes is not None else [None] * len(paths)
        self.add(paths, bboxes)
        return [self.get(p, b).to(device) for p, b in zip(paths, bboxes)]

    def describe(self, paths, bboxes=None, grad: bool = False, net=None) -> torch.Tensor:
        """(N, D) descriptors of these images through the top of `net` (default: the network whose trunk
        made the maps; any network with the same trunk can share them), with gradients if `grad`."""
        net = net or self.net
        bboxes = list(bboxes) if bboxes is not None else [None] * len(paths)
        self.add(paths, bboxes)
        device = next(net.parameters()).device
        with torch.set_grad_enabled(grad):
            return torch.cat([net.top(self.get(p, b)[None].to(device)) for p, b in zip(paths, bboxes)])


def describe_dataset(net, dataset, max_side: int | None, maps: FrozenMaps | None = None,
                     method: str = "gem-ft", progress: bool = False) -> Descriptors:
    """Database and query descriptors of a RetrievalDataset through `net` (queries cropped to their box)."""
    maps = maps or FrozenMaps(net, max_side)
    maps.add(dataset.images, progress=progress and f"{dataset.name} database")
    maps.add(dataset.queries, dataset.bboxes, progress=progress and f"{dataset.name} queries")
    db = maps.describe(dataset.images, net=net).cpu().numpy().astype(np.float32)
    queries = maps.describe(dataset.queries, dataset.bboxes, net=net).cpu().numpy().astype(np.float32)
    return Descriptors(db={method: db}, queries={method: queries})


def describe_networks(networks: dict, dataset, max_side: int | None, maps: FrozenMaps | None = None) -> Descriptors:
    """Descriptors of `dataset` through several networks sharing one trunk, one method per network name
    (ready for `experiment.interval_table` and `experiment.evaluate_descriptors`)."""
    db, queries = {}, {}
    for name, net in networks.items():
        maps = maps or FrozenMaps(net, max_side)
        desc = describe_dataset(net, dataset, max_side, maps, method=name)
        db[name], queries[name] = desc.db[name], desc.queries[name]
    return Descriptors(db=db, queries=queries)
