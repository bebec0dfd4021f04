"""retrieval-SfM-120k (Radenovic, Tolias & Chum), the training set of the field, as cirtorch distributes it.

Images come as one tarball, named by their CID and stored as ims/<cid[-2:]>/<cid[-4:-2]>/<cid[-6:-4]>/<cid>;
the pickled db `retrieval-SfM-120k.pkl` holds for "train" and "val" the lists `cids` (image names),
`cluster` (the 3D model each image belongs to), and `qidxs` / `pidxs` (query and positive of each
matching pair, as indexes into `cids`). The loader turns it into a RetrievalDataset whose queries are
the pairs' query images with their positives as ground truth, and whose database is every image;
`extra["image_object"]` is each image's cluster and `extra["query_class"]` each query's cluster, so that
mining takes one negative per cluster and never one from the query's own 3D model (as cirtorch does).
"""
from __future__ import annotations

import io
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np

from .base import DatasetFormatError, RetrievalDataset

SPLITS = ("train", "val")
DB_KEYS = ("cids", "cluster", "qidxs", "pidxs")


class _ListsOnlyUnpickler(pickle.Unpickler):
    """Reads pickles made only of dicts, lists, tuples, strings and numbers.

    Unpickling calls whatever a pickle names (`find_class`), so a tampered download could run code
    on the student's machine. The db is a dict of lists, which pickle encodes without naming any
    class: refusing every name except the builtin containers loses nothing and closes that door."""

    _ALLOWED = frozenset({("builtins", "set"), ("builtins", "frozenset"), ("builtins", "list"), ("builtins", "dict"),
                          ("builtins", "tuple")})

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: the rSfM db is a dict of lists "
                                         f"and needs no class")
        return super().find_class(module, name)


def read_db(path: str | Path) -> dict:
    """The db pickle as {"train": {...}, "val": {...}} of plain lists, checked; one-line errors."""
    path = Path(path)
    try:
        content = _ListsOnlyUnpickler(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DatasetFormatError(f"{path}: not a readable rSfM db ({err})") from None
    if not isinstance(content, dict) or not set(SPLITS) <= set(content):
        raise DatasetFormatError(f"{path}: expected a dict with 'train' and 'val'")
    for split in SPLITS:
        part = content[split]
        missing = [k for k in DB_KEYS if not isinstance(part, dict) or k not in part]
        if missing:
            raise DatasetFormatError(f"{path}: {split} has no {', '.join(missing)}")
        n = len(part["cids"])
        if len(part["cluster"]) != n:
            raise DatasetFormatError(f"{path}: {split} has {len(part['cluster'])} clusters for {n} images")
        if len(part["qidxs"]) != len(part["pidxs"]):
            raise DatasetFormatError(f"{path}: {split} has {len(part['qidxs'])} queries for "
                                     f"{len(part['pidxs'])} positives")
        bad = [int(i) for i in list(part["qidxs"]) + list(part["pidxs"]) if not 0 <= int(i) < n]
        if bad:
            raise DatasetFormatError(f"{path}: {split} pair index {bad[0]} outside its {n} images")
    return content


def cid_path(images_root: Path, cid: str) -> Path:
    """Where cirtorch's tarball stores the image named `cid`."""
    return images_root / cid[-2:] / cid[-4:-2] / cid[-6:-4] / cid


def read_rsfm(spec: dict, cache: Path) -> RetrievalDataset:
    """The registered dataset (manifest `rsfm120k`): both splits, per query its split in extra["split"]."""
    images_root = cache / spec["images"][0]
    db = read_db(cache / spec["ground_truth"])
    images, image_split, image_cluster, queries, gnd, split, query_class = [], [], [], [], [], [], []
    for which in SPLITS:
        part, offset = db[which], len(images)
        for cid, cluster in zip(part["cids"], part["cluster"]):
            path = cid_path(images_root, str(cid))
            images.append(path)
            image_split.append(which)
            image_cluster.append(int(cluster))
        positives: dict[int, list[int]] = {}
        for q, p in zip(part["qidxs"], part["pidxs"]):
            positives.setdefault(int(q), []).append(offset + int(p))
        for q, ps in positives.items():
            queries.append(images[offset + q])
            gnd.append({"easy": sorted(set(ps)), "hard": [], "junk": []})
            split.append(which)
            query_class.append(image_cluster[offset + q])
    missing = [p for p in images[:1] + queries[:1] if not p.is_file()]
    if missing:
        raise DatasetFormatError(f"{spec['name']}: image {missing[0]} named in the db is not in the extracted "
                                 f"tarball")
    return RetrievalDataset(name=spec["name"], root=cache / Path(spec["ground_truth"]).parent, images=images,
                            queries=queries, bboxes=[None] * len(queries), gnd=gnd, protocol="custom",
                            extra={"split": split, "query_class": query_class, "image_object": image_cluster,
                                   "image_split": image_split})


def split(dataset: RetrievalDataset, which: str, max_queries: int | None = None, pool_size: int | None = None,
          seed: int = 0) -> RetrievalDataset:
    """One split ("train" or "val") with its own images only; optionally `max_queries` random queries and a
    database of their positives plus random other images of the split up to `pool_size` (a subset that a
    single GPU session can train on; cirtorch draws 2000 queries and a pool of 20000 per epoch)."""
    if which not in SPLITS:
        raise ValueError(f"split must be 'train' or 'val', not {which!r}")
    rng = np.random.default_rng(seed)
    chosen = [q for q, s in enumerate(dataset.extra["split"]) if s == which]
    if max_queries is not None and max_queries < len(chosen):
        chosen = sorted(int(q) for q in rng.choice(chosen, size=max_queries, replace=False))
    own = [i for i, s in enumerate(dataset.extra["image_split"]) if s == which]
    needed = sorted({i for q in chosen for i in dataset.gnd[q]["easy"]})
    if pool_size is not None and pool_size < len(own):
        needed_set = set(needed)
        others = [i for i in own if i not in needed_set]
        extra_count = max(0, min(len(others), pool_size - len(needed)))
        keep = sorted(needed_set | {int(i) for i in rng.choice(others, size=extra_count, replace=False)})
    else:
        keep = own
    new_id = {old: new for new, old in enumerate(keep)}
    return replace(dataset, name=f"{dataset.name}-{which}", images=[dataset.images[i] for i in keep],
                   queries=[dataset.queries[q] for q in chosen], bboxes=[None] * len(chosen),
                   gnd=[{"easy": [new_id[i] for i in dataset.gnd[q]["easy"]], "hard": [], "junk": []}
                        for q in chosen],
                   extra={"split": [which] * len(chosen),
                          "query_class": [dataset.extra["query_class"][q] for q in chosen],
                          "image_object": [dataset.extra["image_object"][i] for i in keep],
                          "image_split": [which] * len(keep)})
