"""Localization measured on a dataset with per-positive boxes (mini): exhaustive vs refine box search,
and re-ranking a global-search shortlist by the localized region (the ICLR 2016 pipeline), both cached."""
from __future__ import annotations

import dataclasses
import hashlib
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..cache import TABLE, cache_folder, content_key, dataset_spec, expect, read_or_compute
from ..experiment import score_ranking
from ..features import conv_map
from ..images import image_size
from ..index.exact import rank_database
from .boxes import paired_iou
from .localize import DEFAULT_ALPHA, localize, query_vector

CACHE_VERSION = 2  # 2: images keyed by their content, not their size and time; maps in true float32
BOX = ("x1", "y1", "x2", "y2")  # a box's columns in the cached tables


class MapStore:
    """Conv maps of a dataset's database images and (cropped) queries, computed on first use and kept."""

    def __init__(self, dataset, backbone, max_side: int | None = 512, tap: str | None = None):
        self.dataset, self.backbone, self.max_side = dataset, backbone, max_side
        self.tap = tap or backbone.default_conv
        self._images: dict[int, torch.Tensor] = {}
        self._queries: dict[int, torch.Tensor] = {}

    def key(self, **settings) -> str:
        """A cache key from the dataset's files, the backbone, the tap, the image size and `settings`."""
        spec = {"version": CACHE_VERSION, "dataset": self.dataset.name, "backbone": self.backbone.name,
                "tap": self.tap, "max_side": self.max_side, **dataset_spec(self.dataset), **settings}
        return content_key(spec)

    def _map(self, path, bbox=None) -> torch.Tensor:
        return conv_map(self.backbone, path, self.tap, self.max_side, bbox)

    def image(self, i: int) -> torch.Tensor:
        if i not in self._images:
            self._images[i] = self._map(self.dataset.images[i])
        return self._images[i]

    def query(self, q: int) -> torch.Tensor:
        if q not in self._queries:
            self._queries[q] = self._map(self.dataset.queries[q], self.dataset.bboxes[q])
        return self._queries[q]

    @cached_property
    def image_sizes(self) -> list[tuple[int, int]]:
        return [image_size(p) for p in self.dataset.images]


def _cache_path(kind: str, key: str) -> Path:
    return cache_folder("detection") / f"{kind}-{key}{TABLE.suffix}"


def _cached_table(path: Path, compute, columns) -> pd.DataFrame:
    """The table cached at `path`, or `compute()` written there; a table without all of `columns` is damaged."""
    def check(table: pd.DataFrame) -> None:
        missing = [c for c in columns if c not in table.columns]
        expect(not missing, f"no column {', '.join(missing)}")

    return read_or_compute(path, compute, TABLE, check, "detection cache entry")


def positive_pairs(dataset, queries=None, per_query: int | None = None) -> list[tuple[int, int, str]]:
    """(query, database id, "easy"/"hard") for the positives that carry a box, in a fixed order."""
    if dataset.positive_boxes is None:
        raise ValueError(f"{dataset.name}: the ground truth gives no boxes of the object in its positives")
    pairs = []
    for q in (range(dataset.n_queries) if queries is None else queries):
        chosen = [(q, i, level) for level in ("easy", "hard") for i in sorted(dataset.gnd[q][level])
                  if i in dataset.positive_boxes[q]]
        pairs += chosen[:per_query] if per_query else chosen
    return pairs


def small_object_subset(dataset, max_area: float = 0.15):
    """The queries of `dataset` judged only on their small-object positives: database images where the object's
    true box covers less than `max_area` of the image. Those stay positives (easy or hard, as they were); the
    query's other positives become junk (neither rewarded nor penalised). Queries without such a positive are
    dropped; extra["source_queries"] gives each kept query's index in `dataset` (to select ranking columns)."""
    if dataset.positive_boxes is None:
        raise ValueError(f"{dataset.name}: the ground truth gives no boxes of the object in its positives")
    if not 0 < max_area <= 1:
        raise ValueError(f"max_area must be in (0, 1], got {max_area}")
    sizes = {}
    kept, gnd = [], []
    for q, boxes in enumerate(dataset.positive_boxes):
        small = set()
        for i, (x1, y1, x2, y2) in boxes.items():
            width, height = sizes.setdefault(i, image_size(dataset.images[i]))
            if (x2 - x1) * (y2 - y1) < max_area * width * height:
                small.add(i)
        if not small:
            continue
        levels = {level: sorted(set(dataset.gnd[q][level]) & small) for level in ("easy", "hard")}
        others = (set(dataset.gnd[q]["easy"]) | set(dataset.gnd[q]["hard"])) - small
        kept.append(q)
        gnd.append({**levels, "junk": sorted(set(dataset.gnd[q]["junk"]) | others)})
    return dataclasses.replace(
        dataset, name=f"{dataset.name} small objects (< {100 * max_area:g}% of the image)",
        queries=[dataset.queries[q] for q in kept], bboxes=[dataset.bboxes[q] for q in kept], gnd=gnd,
        query_ids=None if dataset.query_ids is None else [dataset.query_ids[q] for q in kept],
        positive_boxes=[{i: b for i, b in dataset.positive_boxes[q].items() if i in set(g["easy"] + g["hard"])}
                        for q, g in zip(kept, gnd)],
        extra={**dataset.extra, "source_queries": kept, "max_area": max_area})


def small_object_table(dataset, rankings: dict[str, np.ndarray], pairs, areas=(0.10, 0.15, 0.20),
                       confidence: float = 0.95) -> pd.DataFrame:
    """Rankings compared on `small_object_subset` at several area limits: per limit and pair (A, B) of names
    in `rankings` (full ranks (n_db, n_queries) of `dataset`), the queries and positives kept, both mAPs, the
    mean per-query difference A - B in AP points with its paired bootstrap interval, and whether it is real."""
    from ..evaluation import paired_difference

    rows = []
    for area in areas:
        small = small_object_subset(dataset, area)
        columns = small.extra["source_queries"]
        ap = {name: score_ranking(small, ranks[:, columns])["per_query_ap"] for name, ranks in rankings.items()}
        for a, b in pairs:
            gap = paired_difference(ap[a], ap[b], confidence)
            rows.append({"object area <": f"{100 * area:g}%", "queries": len(columns),
                         "positives": sum(len(boxes) for boxes in small.positive_boxes), "A - B": f"{a} - {b}",
                         "mAP A": 100 * np.mean(ap[a]), "mAP B": 100 * np.mean(ap[b]),
                         "difference": 100 * gap["difference"], "low": 100 * gap["low"], "high": 100 * gap["high"],
                         "real": gap["real"]})
    table = pd.DataFrame(rows)
    numbers = ["mAP A", "mAP B", "difference", "low", "high"]
    table[numbers] = table[numbers].round(1) + 0.0  # -0.0 after rounding prints as 0.0
    return table.set_index(["object area <", "A - B"])


def compare_localizers(maps: MapStore, pairs, methods=("exhaustive", "refine"),
                       alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """One row per (pair, method): the box found, its IoU with the true box, boxes scored, seconds. Cached."""
    dataset = maps.dataset

    def compute() -> pd.DataFrame:
        rows = []
        for q, i, level in pairs:
            query = query_vector(maps.query(q))
            true_box = dataset.positive_boxes[q][i]
            for method in methods:
                found = localize(maps.image(i), query, maps.image_sizes[i], method, alpha)
                rows.append({"query": q, "image": i, "level": level, "method": method,
                             "iou": float(paired_iou([found.box], [true_box])[0]), "evaluations": found.evaluations,
                             "seconds": found.seconds, "score": found.score,
                             "x1": found.box[0], "y1": found.box[1], "x2": found.box[2], "y2": found.box[3]})
        return pd.DataFrame(rows)

    key = maps.key(pairs=[list(p) for p in pairs], methods=list(methods), alpha=alpha)
    return _cached_table(_cache_path("localize", key), compute, ("query", "image", "level", "method", "iou", *BOX))


def summarize_localizers(table: pd.DataFrame, located_iou: float = 0.5) -> pd.DataFrame:
    """Per method: mean IoU, share located (IoU >= located_iou), boxes scored and milliseconds per image."""
    grouped = table.groupby("method", sort=False)
    return pd.DataFrame({
        "mean IoU": grouped["iou"].mean(),
        f"located (IoU >= {located_iou})": grouped["iou"].apply(lambda v: (v >= located_iou).mean()),
        "boxes scored": grouped["evaluations"].mean(),
        "ms per image": grouped["seconds"].mean() * 1000,
        "pairs": grouped.size(),
    })


def rerank_by_region(maps: MapStore, db_descriptors: np.ndarray, query_descriptors: np.ndarray, k: int = 20,
                     method: str = "refine", alpha: float = DEFAULT_ALPHA, name: str = "") -> dict:
    """Global search, then the top-k of each query re-ordered by the similarity of the localized box
    (Tolias et al., ICLR 2016, Sec. 5); the rest of the ranking is kept. Returns the ranks
    (n_db, n_queries) before and after, the shortlist's boxes and the scores of both. Cached."""
    dataset = maps.dataset
    before = rank_database(db_descriptors, query_descriptors)
    k = min(k, before.shape[0])

    def compute() -> pd.DataFrame:
        rows = []
        for q in range(before.shape[1]):
            query = query_vector(maps.query(q))
            for rank, i in enumerate(before[:k, q].tolist()):
                found = localize(maps.image(i), query, maps.image_sizes[i], method, alpha)
                rows.append({"query": q, "rank": rank, "image": i, "score": found.score,
                             "x1": found.box[0], "y1": found.box[1], "x2": found.box[2], "y2": found.box[3]})
        return pd.DataFrame(rows)

    digest = hashlib.sha256(before[:k].tobytes()).hexdigest()[:16]
    shortlist = _cached_table(_cache_path("rerank", maps.key(k=k, method=method, alpha=alpha, shortlist=digest,
                                                                     name=name)), compute,
                              ("query", "rank", "image", "score", *BOX))
    after = before.copy()
    for q, group in shortlist.groupby("query"):
        after[:k, q] = group.sort_values(["score", "rank"], ascending=[False, True])["image"].to_numpy()
    return {"before": before, "after": after, "shortlist": shortlist,
            "scores_before": score_ranking(dataset, before), "scores_after": score_ranking(dataset, after)}


def region_search_study(maps: MapStore, L: int = 3, proposals=None, proposals_name: str | None = None) -> dict:
    """Search by regions (detection.region_search) for every query of the dataset: every database image's
    regions in one faiss index, each query (the MAC of its crop) answered by best regions. The regions are
    the R-MAC grid of scales 1..L, or, with `proposals` (image id -> boxes in pixels, e.g. a detector's),
    those boxes and the whole image; `proposals_name` then names them in the cache key.
    Returns the ranks (n_db, n_queries), per query {image: best box}, and the protocol scores. Cached."""
    from .region_search import build_region_index, region_ranking

    dataset = maps.dataset
    if proposals is not None and not proposals_name:
        raise ValueError("region_search_study: name the proposals (proposals_name) so that their results are cached apart")

    def compute() -> pd.DataFrame:
        regions = build_region_index(maps.image, maps.image_sizes, range(len(dataset)), L, proposals=proposals)
        queries = np.stack([query_vector(maps.query(q)).float().numpy() for q in range(dataset.n_queries)])
        ranks, best = region_ranking(regions, queries, len(dataset))
        return pd.DataFrame([{"query": q, "rank": r, "image": int(i), "x1": best[q][int(i)][0],
                              "y1": best[q][int(i)][1], "x2": best[q][int(i)][2], "y2": best[q][int(i)][3]}
                             for q in range(dataset.n_queries) for r, i in enumerate(ranks[:, q])])

    key = maps.key(L=L, regions="rmac-grid") if proposals is None else maps.key(regions=proposals_name)
    table = _cached_table(_cache_path("regions", key), compute, ("query", "rank", "image", *BOX))
    ranks = np.zeros((len(dataset), dataset.n_queries), dtype=np.int64)
    best = [{} for _ in range(dataset.n_queries)]
    for row in table.itertuples(index=False):
        ranks[row.rank, row.query] = row.image
        best[row.query][row.image] = (row.x1, row.y1, row.x2, row.y2)
    return {"ranks": ranks, "boxes": best, "scores": score_ranking(dataset, ranks)}
