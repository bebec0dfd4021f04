"""Feature maps of the frozen trunk, computed once per image and cached; descriptors through the trainable top.

Fine-tuning only the top stages means the trunk's output never changes: computing it once
(and keeping it on disk) makes every epoch, every mining round and every validation cheap.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import config
from ..features import Descriptors, image_tensor
from ..files import atomic_write

CACHE_VERSION = 1


class FrozenMaps:
    """Trunk maps of images, {(path, bbox): (C, H, W) tensor}, filled on demand and cached on disk.

    One cache file per image (keyed by the network's trunk, the image size, the file's name, size and
    modification time and the crop box), so a rerun, or another subset of the same images, reads instead
    of recomputing.
    """

    def __init__(self, net, max_side: int | None, cache: bool = True):
        self.net, self.max_side, self.cache = net, max_side, cache
        self.maps: dict[tuple, torch.Tensor] = {}

    @staticmethod
    def key(path, bbox=None) -> tuple:
        return (os.fspath(path), tuple(float(v) for v in bbox) if bbox is not None else None)

    def _cache_file(self, item: tuple) -> Path:
        path, bbox = item
        settings = json.dumps({"version": CACHE_VERSION, "backbone": self.net.backbone_name,
                               "train_from": self.net.train_from, "max_side": self.max_side})
        folder = hashlib.sha256(settings.encode()).hexdigest()[:16]
        st = os.stat(path)
        name = hashlib.sha256(f"{path}|{bbox}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]
        return config.home_dir() / "trunk_maps" / folder / f"{name}.pt"

    def add(self, paths, bboxes=None, progress: bool | str = False) -> None:
        """Compute (or read from the cache, one small file per image) the maps of these images."""
        bboxes = list(bboxes) if bboxes is not None else [None] * len(paths)
        items = list(dict.fromkeys(self.key(p, b) for p, b in zip(paths, bboxes)))
        todo = [k for k in items if k not in self.maps]
        if not todo:
            return
        device = next(self.net.parameters()).device
        for item in tqdm(todo, desc=progress if isinstance(progress, str) else "trunk maps",
                         disable=not progress, unit="img"):
            cache_file = self._cache_file(item) if self.cache else None
            if cache_file is not None and cache_file.exists():
                try:
                    self.maps[item] = torch.load(cache_file, map_location="cpu", weights_only=True)
                    continue
                except Exception:  # noqa: BLE001 - a damaged entry (any reason) is recomputed and rewritten
                    pass
            path, bbox = item
            x = image_tensor(path, max_side=self.max_side, bbox=bbox)[None].to(device)
            self.maps[item] = self.net.trunk(x)[0].cpu()
            if cache_file is not None:
                buffer = io.BytesIO()
                torch.save(self.maps[item], buffer)
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(cache_file) as f:
                    f.write(buffer.getvalue())

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
