"""Descriptors of a large collection on disk, in shards: extracted once and resumably (each shard is one
file written atomically, so a killed run leaves only whole shards), split over processes by rank
(torchrun), and read back one shard at a time to build an index that never holds the whole collection.

It lives in `index/` because it is the index's input format: the same module writes and reads it.

A shard folder holds `manifest.json` (dataset, backbone, poolings, image size, scales, image ids, the
shards with the rank that wrote each and its sha256), `shard-00000.npz`, ... (arrays `ids`: the
positions of its images in the image list, `key`: the settings it was made with, and one (n, D)
float32 array per pooling) and, for a dataset with queries, `queries.npz`.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..files import save_npz, sha256_of, write_json

MANIFEST = "manifest.json"
QUERIES = "queries.npz"
FORMAT_VERSION = 1


def shard_name(number: int) -> str:
    return f"shard-{number:05d}.npz"


def shard_ranges(n_items: int, shard_size: int) -> list[tuple[int, int]]:
    """(start, stop) of every shard: consecutive runs of `shard_size` items, the last one shorter."""
    if shard_size < 1:
        raise ValueError(f"shard size must be at least 1, got {shard_size}")
    return [(start, min(start + shard_size, n_items)) for start in range(0, n_items, shard_size)]


def shards_of_rank(n_shards: int, rank: int, world_size: int) -> list[int]:
    """The shard numbers process `rank` of `world_size` extracts: every world_size-th, from its rank.

    The split depends only on the shard numbers, so the files are the same whatever the number of
    processes, and a run resumed with another number of processes still skips every finished shard."""
    return list(range(rank, n_shards, world_size))


def settings_key(settings: dict) -> str:
    """A short hash of everything that determines the descriptors (image list included)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of a shard folder; a missing or unreadable one is a one-line ValueError."""
    path = Path(folder).expanduser() / MANIFEST
    if not path.is_file():
        raise ValueError(f"{folder}: no {MANIFEST}; not a shard folder written by `extract`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable manifest ({type(err).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a shard manifest of format {FORMAT_VERSION}")
    return manifest


def verify_shard(path: Path, start: int, stop: int, key: str, methods: Sequence[str]) -> bool:
    """Whether a shard file is complete and belongs to these settings: readable, the right image
    positions, the settings key, and one finite (stop - start, D) float32 array per method."""
    if not path.is_file():
        return False
    try:
        with np.load(path) as z:
            if str(z["key"]) != key or not np.array_equal(z["ids"], np.arange(start, stop)):
                return False
            for method in methods:
                x = z[method]
                if x.dtype != np.float32 or x.ndim != 2 or x.shape[0] != stop - start or not np.isfinite(x).all():
                    return False
    except Exception:  # a damaged file raises many kinds of error; it is simply not a finished shard
        return False
    return True


def check_output_folder(folder: str | os.PathLike) -> bool:
    """Refuse a file or a non-empty folder that is not a shard folder; True when it holds a manifest."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder}: is a file; give a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return False
    if not (folder / MANIFEST).is_file():
        raise ValueError(f"--out {folder}: is not empty and holds no {MANIFEST}; give an empty or new folder "
                         f"(nothing is overwritten)")
    return True


def check_folder(folder: Path, key: str, describe: str) -> None:
    """Refuse a folder that holds something else: another run's shards, or files that are not shards."""
    if not check_output_folder(folder):
        return
    manifest = read_manifest(folder)
    if manifest.get("key") != key:
        raise ValueError(f"--out {folder}: holds descriptors made with other settings ({manifest.get('describe')}); "
                         f"this run is {describe}; choose another folder (nothing is overwritten)")


def world() -> tuple[int, int]:
    """(rank, number of processes) of the torch.distributed group, (0, 1) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def write_shards(folder: str | os.PathLike, settings: dict, image_ids: Sequence[str], shard_size: int,
                 make_shard: Callable[[int, int], dict[str, np.ndarray]], methods: Sequence[str],
                 rank: int = 0, world_size: int = 1, log: Callable[[str], None] | None = None,
                 before_finish: Callable[[Path, str], None] | None = None) -> dict:
    """Write (or finish) a shard folder; returns the manifest (complete once every shard is there).

    make_shard(start, stop) gives {method: (stop - start, D) float32} for images start..stop-1.
    Shards already complete and verified are skipped; the others are computed and written atomically.
    Every process calls this with its rank; rank 0 writes the manifest, before (marked incomplete) and
    after the work (listing every shard, its sha256 and the rank that wrote it). before_finish(folder, key)
    runs on rank 0 once every shard is written, before the manifest is completed (e.g. to add the queries).
    """
    folder = Path(folder).expanduser()
    methods = list(methods)
    settings = {**settings, "methods": methods, "image_ids": list(image_ids), "shard_size": int(shard_size)}
    key = settings_key(settings)
    describe = ", ".join(f"{k} {settings[k]}" for k in ("dataset", "backbone", "methods", "max_side", "scales")
                         if k in settings)
    check_folder(folder, key, describe)  # every rank checks, so every rank refuses alike
    ranges = shard_ranges(len(image_ids), shard_size)
    base = {"format": FORMAT_VERSION, "key": key, "describe": describe, **settings, "n_images": len(image_ids),
            "n_shards": len(ranges), "world_size": world_size}
    if rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
        for leftover in folder.glob(".*.part"):  # a killed run's unfinished temporary file, never a shard
            leftover.unlink(missing_ok=True)
        if not (folder / MANIFEST).is_file():
            write_json(folder / MANIFEST, {**base, "complete": False, "shards": []})
    barrier()
    say = log or (lambda text: None)
    done = skipped = 0
    for number in shards_of_rank(len(ranges), rank, world_size):
        start, stop = ranges[number]
        path = folder / shard_name(number)
        if verify_shard(path, start, stop, key, methods):
            skipped += 1
            continue
        began = time.perf_counter()
        arrays = make_shard(start, stop)
        save_npz(path, ids=np.arange(start, stop), key=np.array(key), rank=np.array(rank),
                 **{m: np.ascontiguousarray(arrays[m], dtype=np.float32) for m in methods})
        done += 1
        say(f"rank {rank}: {shard_name(number)} ({stop - start} images) in {time.perf_counter() - began:.1f} s")
    say(f"rank {rank}: {done} shards written, {skipped} already complete and skipped")
    barrier()
    if rank != 0:
        return {**base, "complete": None, "shards": []}
    if before_finish is not None:
        before_finish(folder, key)
    return finish_manifest(folder, base, ranges, methods)


def finish_manifest(folder: Path, base: dict, ranges: list[tuple[int, int]], methods: Sequence[str]) -> dict:
    """Rank 0's last step: list every shard (file, images, rank that wrote it, sha256) in the manifest."""
    shards, missing = [], []
    for number, (start, stop) in enumerate(ranges):
        path = folder / shard_name(number)
        if not verify_shard(path, start, stop, base["key"], methods):
            missing.append(shard_name(number))
            continue
        with np.load(path) as z:
            writer = int(z["rank"])
        shards.append({"file": path.name, "start": start, "stop": stop, "rank": writer, "sha256": sha256_of(path)})
    manifest = {**base, "complete": not missing, "shards": shards}
    if (folder / QUERIES).is_file():
        manifest["queries"] = {"file": QUERIES, "sha256": sha256_of(folder / QUERIES)}
    write_json(folder / MANIFEST, manifest)
    if missing:
        raise ValueError(f"{folder}: {len(missing)} shards missing ({missing[0]} ...); run the same command "
                           f"again to finish them")
    return manifest


def extract_dataset(dataset, backbone, methods: Sequence[str], folder: str | os.PathLike, shard_size: int = 1000,
                    max_side: int | None = 512, scales: Sequence[float] = (1.0,), device=None,
                    progress: bool = True) -> dict:
    """Sharded, resumable extraction of a dataset's database (and queries) descriptors into `folder`.

    Under torchrun each process takes its share of the shards (`shards_of_rank`); the result is the
    same files as one process would write.
    """
    from ..features import describe_images

    rank, world_size = world()
    root = Path(dataset.root)
    image_ids = [os.path.relpath(p, root) for p in dataset.images]
    settings = {"dataset": dataset.name, "backbone": backbone.name, "max_side": max_side,
                "scales": [float(s) for s in scales]}
    common = dict(backbone=backbone, methods=list(methods), max_side=max_side, scales=scales, device=device,
                  progress=False)

    def make_shard(start: int, stop: int) -> dict[str, np.ndarray]:
        return describe_images(dataset.images[start:stop], **common)

    def add_queries(folder: Path, key: str) -> None:
        path = folder / QUERIES
        if not dataset.queries or verify_queries(path, key, methods, len(dataset.queries)):
            return
        if dataset.query_ids is not None:  # queries are database images: their rows, not a second pass
            query_ids = np.asarray(dataset.query_ids)
            arrays = {m: load_method(folder, m)[query_ids] for m in methods}
        else:
            arrays = describe_images(dataset.queries, bboxes=dataset.bboxes, **common)
            query_ids = np.full(len(dataset.queries), -1)
        save_npz(path, key=np.array(key), query_ids=query_ids, **arrays)

    log = (lambda text: print(text, file=sys.stderr, flush=True)) if progress else None
    manifest = write_shards(folder, settings, image_ids, shard_size, make_shard, methods, rank, world_size, log,
                            before_finish=add_queries)
    barrier()
    return manifest


def verify_queries(path: Path, key: str, methods: Sequence[str], n_queries: int) -> bool:
    if not path.is_file():
        return False
    try:
        with np.load(path) as z:
            return str(z["key"]) == key and all(z[m].shape[0] == n_queries and np.isfinite(z[m]).all()
                                                for m in methods)
    except Exception:  # damaged: computed again
        return False


def iter_shards(folder: str | os.PathLike, method: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image positions, (n, D) float32 descriptors) of one method, one shard at a time, in image order."""
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    if not manifest.get("complete"):
        raise ValueError(f"{folder}: extraction not finished ({len(manifest.get('shards', []))} of "
                         f"{manifest.get('n_shards')} shards listed); run `extract` again to finish it")
    if method not in manifest["methods"]:
        raise ValueError(f"{folder}: no {method!r} descriptors; it holds {', '.join(manifest['methods'])}")
    for shard in manifest["shards"]:
        with np.load(folder / shard["file"]) as z:
            yield z["ids"], z[method]


def load_method(folder: str | os.PathLike, method: str) -> np.ndarray:
    """All database descriptors of one method as one array (for collections that fit in memory)."""
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    parts = []
    for number, (start, stop) in enumerate(shard_ranges(manifest["n_images"], manifest["shard_size"])):
        with np.load(folder / shard_name(number)) as z:
            parts.append(z[method])
    return np.concatenate(parts)


def peak_memory_mb() -> float | None:
    """The process's peak resident memory so far (VmHWM, Linux), in MB; None where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def training_sample(folder: str | os.PathLike, method: str, n_train: int, seed: int = 0) -> np.ndarray:
    """n_train descriptors drawn uniformly without replacement from every shard, read one shard at a time."""
    manifest = read_manifest(folder)
    n_train = min(int(n_train), manifest["n_images"])
    chosen = np.sort(np.random.default_rng(seed).choice(manifest["n_images"], n_train, replace=False))
    parts = []
    for ids, x in iter_shards(folder, method):
        inside = chosen[(chosen >= ids[0]) & (chosen <= ids[-1])]
        parts.append(x[inside - ids[0]])
    return np.concatenate(parts)


def build_from_shards(folder: str | os.PathLike, factory: str, method: str, n_train: int = 100_000,
                      seed: int = 0):
    """A faiss index over every shard of `folder`: trained on a uniform sample, then filled shard by shard,
    so memory holds the index, the training sample (freed before filling) and one shard at a time."""
    from . import zoo

    manifest = read_manifest(folder)
    if not manifest.get("complete"):
        raise ValueError(f"{folder}: extraction not finished; run `extract` again to finish it")
    train = training_sample(folder, method, n_train, seed)
    dim = train.shape[1]
    index = zoo.make_index(factory, dim)
    zoo.skip_polysemous_training(index)
    if not index.is_trained:
        zoo.train_index(index, factory, train)
    del train
    for ids, x in iter_shards(folder, method):
        if x.shape[1] != dim:
            raise ValueError(f"{folder}: shards of {x.shape[1]} and {dim} dimensions")
        index.add(np.ascontiguousarray(x, dtype=np.float32))
    return index
