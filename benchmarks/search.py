"""Exact and approximate search at 10^5 and 10^6 vectors, ratios measured in one run.

Database: the labelled stand-in of `course_lib.index.distractors` (Gaussian vectors with the mean and
covariance of real GeM descriptors of mini-train, EfficientNet-Lite0, 1280-D), optionally rotated to
fewer dimensions by a random orthonormal projection. Queries: 100 more stand-in vectors, top 100.

1. exact: numpy chunked matmul + argpartition (`index.top_k`) against faiss IndexFlatIP, ratio printed;
2. the zoo: each index's ms/query, recall@10 of the exact top 10, bytes per vector, build time.

--sharded N: the index target (recall, speed, bytes) at full dimension. N stand-in vectors (1280-D, Gaussian with the covariance
of real GeM descriptors of random regions of the pip photos: full rank, unlike a few hundred whole images)
are written as shards (`course_lib.index.shards`, resumable), exact search streams over the shards, and
each index is built by `python -m course_lib index build` in its own process, one shard in memory at a
time: its peak memory (VmHWM) is printed and recorded. --database regions uses a million real regional descriptors
of the pip photos instead; caution: about half of those windows are exact copies and neighbours tie at cosine > 0.99,
so the recall of ids measured on them is not meaningful (speed, bytes and memory are).

Rows replace the rows of the same (N, dims, index, knob) in the CSV (default benchmarks/search_results.csv),
written after every row. Two recalls: recall@10 is the share of the exact 10 nearest among the 10 returned;
nn_recall@10 is the share of queries whose exact nearest neighbour is among the 10 returned (the R@10 of
Jegou et al., TPAMI 2011).

    python benchmarks/search.py                          # N = 1e5 at 1280-D and 1e6 at 320-D
    python benchmarks/search.py --sizes 100000 --dims 1280 --zoo "IVF256,PQ32"
    python benchmarks/search.py --sharded 1000000 --zoo "PCA256,IVF4096,PQ32" "OPQ32_256,IVF4096,PQ32"
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from course_lib import config
from course_lib.datasets import load_dataset
from course_lib.features import conv_map, extract_descriptors
from course_lib.files import atomic_write, save_npz
from course_lib.index import shards, top_k, zoo
from course_lib.index.distractors import (
    gaussian_distractors,
    random_windows,
    random_region_descriptors,
    window_gem,
)
from course_lib.index.shards import peak_memory_mb
from course_lib.models import load_backbone
from course_lib.transforms import fit_pca, l2_normalise

SHARDED_QUERY_SEED = 10 ** 9  # the queries' stand-in draws: apart from every shard's (seeded by its start)


def stand_in(n: int, dims: int, seed: int) -> np.ndarray:
    """n stand-in vectors of `dims` dimensions (a random orthonormal projection below 1280)."""
    learn_set = load_dataset("mini-train")
    learn = extract_descriptors(learn_set, load_backbone(), ["gem"], progress=False)
    pca = fit_pca(np.concatenate([learn.db["gem"], learn.queries["gem"]]))
    x = gaussian_distractors(pca, n, seed=seed)
    if dims < x.shape[1]:
        rotation = np.linalg.qr(np.random.default_rng(seed).standard_normal((x.shape[1], dims)))[0]
        x = np.concatenate([l2_normalise(x[s:s + 100_000] @ rotation) for s in range(0, n, 100_000)])
    return np.ascontiguousarray(x, dtype=np.float32)


def region_statistics(per_image: int = 16, max_side: int = 384):
    """PCA of GeM descriptors of random regions of mini's and mini-train's photos (cached: a few minutes)."""
    cache = config.home_dir() / "benchmarks" / f"region_gem_{per_image}x_{max_side}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            x = z["x"]
    else:
        paths = list(load_dataset("mini-train").images) + list(load_dataset("mini").images)
        x = random_region_descriptors(paths, load_backbone(), per_image=per_image, max_side=max_side)
        save_npz(cache, x=x)
    return fit_pca(x), x.shape[0]


def stand_in_shards(n: int, shard_size: int):
    """A shard folder of n full-rank stand-in vectors (resumable), and 100 more as queries."""
    pca, n_real = region_statistics()
    folder = config.home_dir() / "benchmarks" / f"standin-{n}-{shard_size}"
    settings = {"dataset": f"Gaussian stand-in with the covariance of {n_real} real GeM region descriptors",
                "backbone": "efficientnet-lite0", "rank": pca.rank}
    ids = [str(i) for i in range(n)]
    shards.write_shards(folder, settings, ids, shard_size, lambda a, b: {"gem": gaussian_distractors(pca, b - a, seed=a)},
                        ["gem"], log=lambda text: print(text, flush=True))
    return folder, pca, n_real


def streamed_exact(folder, queries: np.ndarray, k: int):
    """Exact top k over every shard, and the compute time of numpy and of faiss IndexFlatIP (reads excluded)."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    numpy_s = faiss_s = 0.0
    for ids, x in shards.iter_shards(folder, "gem"):
        start = time.perf_counter()
        scores, found = top_k(x, queries, k)
        numpy_s += time.perf_counter() - start
        flat = faiss.IndexFlatIP(x.shape[1])
        flat.add(x)
        start = time.perf_counter()
        flat.search(queries, k)
        faiss_s += time.perf_counter() - start
        del flat
        scores = np.concatenate([best_scores, scores], axis=1)
        found = np.concatenate([best_ids, found + ids[0]], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        best_scores, best_ids = np.take_along_axis(scores, order, 1), np.take_along_axis(found, order, 1)
    return best_ids, 1000 * numpy_s / len(queries), 1000 * faiss_s / len(queries)


def nn_recall_at(found_ids: np.ndarray, exact_ids: np.ndarray, r: int) -> float:
    """Share of queries whose exact nearest neighbour is among the first r returned (R@r of the PQ paper)."""
    return float(np.mean([exact[0] in found[:r] for found, exact in zip(found_ids, exact_ids)]))


def read_manifest_size(folder) -> int:
    return shards.read_manifest(folder)["n_images"]


def build_in_own_process(folder, factory: str, n_train: int, out: Path) -> tuple[float, float]:
    """`index build` as a separate process: (build seconds, its peak memory in MB) from its report line."""
    done = subprocess.run([sys.executable, "-m", "course_lib", "index", "build", str(folder), "--index", factory,
                           "--train", str(n_train), "--out", str(out)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"index build {factory}: {done.stderr.strip()}")
    print(done.stdout.strip(), flush=True)
    seconds = float(re.search(r"built in ([0-9.]+) s", done.stdout).group(1))
    peak = re.search(r"peak memory ([0-9]+) MB", done.stdout)
    return seconds, float(peak.group(1)) if peak else float("nan")


def photos() -> list:
    return list(load_dataset("mini-train").images) + list(load_dataset("mini").images)


def region_shards(n: int, shard_size: int, max_side: int = 512):
    """A shard folder of about n real descriptors: GeM of random windows (at least 2x2 cells) of the last conv
    map of each of mini-train's and mini's 417 photos, n / 417 windows per photo; and 100 query regions from
    the same photos at another image size (near-duplicates of database regions, not copies)."""
    paths = photos()
    per_image = -(-n // len(paths))
    backbone = load_backbone()

    def windows_of(photo: int, fmap, count: int, seed: int):
        return random_windows(fmap.shape[1], fmap.shape[2], count, np.random.default_rng(seed), min_cells=2)

    def make_shard(start: int, stop: int) -> dict:
        rows = []
        for photo in range(start // per_image, (stop - 1) // per_image + 1):
            fmap = conv_map(backbone, paths[photo], max_side=max_side)
            x = window_gem(fmap, windows_of(photo, fmap, per_image, photo))
            first = photo * per_image
            rows.append(x[max(start, first) - first:min(stop, first + per_image) - first])
        return {"gem": np.concatenate(rows)}

    folder = config.home_dir() / "benchmarks" / f"regions-{per_image * len(paths)}-{shard_size}"
    settings = {"dataset": f"GeM of {per_image} random conv-map windows of each of {len(paths)} photos (mini-train, mini)",
                "backbone": backbone.name, "max_side": max_side}
    shards.write_shards(folder, settings, [str(i) for i in range(per_image * len(paths))], shard_size, make_shard,
                        ["gem"], log=lambda text: print(text, flush=True))
    rng = np.random.default_rng(SHARDED_QUERY_SEED)
    queries = []
    for photo in rng.choice(len(paths), 100, replace=False):
        fmap = conv_map(backbone, paths[photo], max_side=max_side - 64)
        queries.append(window_gem(fmap, windows_of(photo, fmap, 1, SHARDED_QUERY_SEED + int(photo))))
    note = (f"real regional GeM descriptors: {per_image} windows of each of {len(paths)} photos; queries: 100 windows "
            f"at image size {max_side - 64}")
    return folder, np.concatenate(queries), note


def sharded_run(args, record) -> None:
    if args.database == "regions":
        folder, queries, kind = region_shards(args.sharded, args.shard_size)
        n = read_manifest_size(folder)
    else:
        folder, pca, n_real = stand_in_shards(args.sharded, args.shard_size)
        n = args.sharded
        queries = gaussian_distractors(pca, args.queries, seed=SHARDED_QUERY_SEED)
        kind = f"Gaussian stand-in with the covariance of {n_real} real GeM region descriptors (rank {pca.rank})"
    dims = queries.shape[1]
    exact_ids, numpy_ms, faiss_ms = streamed_exact(folder, queries, args.k)
    note = f"shards of {args.shard_size}; {kind}; exact time = compute summed over shards, reads excluded"
    common = {"N": n, "dims": dims, "recall@10": 1.0, "nn_recall@10": 1.0, "bytes_per_vector": 4 * dims,
              "build_s": 0.0, "peak_memory_mb": ""}
    record({**common, "index": "exact numpy (chunked matmul + argpartition)", "knob": "",
            "ms_per_query": round(numpy_ms, 3), "speedup_vs_best_exact": round(min(numpy_ms, faiss_ms) / numpy_ms, 2),
            "note": note})
    record({**common, "index": "exact faiss IndexFlatIP", "knob": "", "ms_per_query": round(faiss_ms, 3),
            "speedup_vs_best_exact": round(min(numpy_ms, faiss_ms) / faiss_ms, 2),
            "note": f"faiss / numpy time = {faiss_ms / numpy_ms:.2f}; {note}"})
    best_exact = min(numpy_ms, faiss_ms)
    for factory in args.zoo:
        out = folder.parent / f"{folder.name}-{re.sub('[^A-Za-z0-9]+', '_', factory)}.faiss"
        build_s, peak = build_in_own_process(folder, factory, args.train, out)
        index = faiss.read_index(str(out))
        size = zoo.bytes_per_vector(index)
        refine = "RFlat" in factory or "Refine" in factory
        if refine:  # re-rank a shortlist of k_factor x k by the exact vectors the refine index keeps
            faiss.ParameterSpace().set_index_parameter(index, "k_factor_rf", args.k_factor_rf)
        for value in args.nprobe:
            zoo.set_knobs(index, nprobe=value)
            ids, ms = zoo.timed_search(index, queries, args.k, repeats=args.repeats)
            record({"N": n, "dims": dims, "index": factory, "knob": f"nprobe={value}", "ms_per_query": round(ms, 3),
                    "recall@10": round(zoo.recall_at(ids, exact_ids, 10), 3),
                    "nn_recall@10": round(nn_recall_at(ids, exact_ids, 10), 3),
                    "bytes_per_vector": round(size, 1), "speedup_vs_best_exact": round(best_exact / ms, 1),
                    "build_s": round(build_s, 1), "peak_memory_mb": round(peak),
                    "note": f"{kind}; built from shards in its own process (peak = its VmHWM); trained on {args.train}"
                            + (f"; shortlist k_factor_rf={args.k_factor_rf}" if refine else "")})
        del index
        out.unlink()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[1280, 320], help="one per size")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--zoo", nargs="*", default=["IVF1024,PQ32", "HNSW32", "IVF1024,Flat"])
    parser.add_argument("--train", type=int, default=50_000, help="vectors to train IVF/PQ on")
    parser.add_argument("--out", default="benchmarks/search_results.csv")
    parser.add_argument("--sharded", type=int, metavar="N", help="the sharded full-dimension run at N vectors")
    parser.add_argument("--shard-size", type=int, default=50_000)
    parser.add_argument("--database", choices=["gaussian", "regions"], default="gaussian",
                        help="--sharded database: Gaussian stand-in, or real regional descriptors of the pip photos")
    parser.add_argument("--k-factor-rf", type=int, default=4, help="shortlist factor of refine (RFlat) indexes")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    parser.add_argument("--machine", default="", help="how loaded the machine was, recorded in every row")
    args = parser.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}, faiss {faiss.__version__}, "
          f"faiss threads {faiss.omp_get_max_threads()}")
    table = pd.read_csv(args.out) if os.path.exists(args.out) else pd.DataFrame()

    def record(row):
        nonlocal table
        row = {**row, "machine": args.machine or f"{os.cpu_count()} cores, load average "
               f"{os.getloadavg()[0]:.1f} at the time of this row"}
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        if not table.empty:
            same = ((table["N"] == row["N"]) & (table["dims"] == row["dims"]) & (table["index"] == row["index"])
                    & (table["knob"].fillna("") == row["knob"]))
            table = table[~same]
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        with atomic_write(args.out) as f:
            f.write(table.to_csv(index=False).encode())

    if args.sharded:
        sharded_run(args, record)
        return

    for n, dims in zip(args.sizes, args.dims):
        data = stand_in(n + args.queries, dims, seed=n)
        db, queries = data[:n], data[n:]
        exact_ids = top_k(db, queries, args.k)[1]
        numpy_ms = zoo.best_ms_per_query(partial(top_k, db, queries, args.k), len(queries), args.repeats)[1]
        flat = faiss.IndexFlatIP(dims)
        flat.add(db)
        faiss_ms = zoo.best_ms_per_query(partial(flat.search, queries, args.k), len(queries), args.repeats)[1]
        del flat
        record({"N": n, "dims": dims, "index": "exact numpy (chunked matmul + argpartition)", "knob": "",
                "ms_per_query": round(numpy_ms, 3), "recall@10": 1.0, "bytes_per_vector": 4 * dims,
                "speedup_vs_best_exact": 1.0, "build_s": 0.0, "note": ""})
        record({"N": n, "dims": dims, "index": "exact faiss IndexFlatIP", "knob": "",
                "ms_per_query": round(faiss_ms, 3), "recall@10": 1.0, "bytes_per_vector": 4 * dims,
                "speedup_vs_best_exact": round(numpy_ms / faiss_ms, 2), "build_s": 0.0,
                "note": f"faiss / numpy time = {faiss_ms / numpy_ms:.2f}"})
        best_exact = min(numpy_ms, faiss_ms)
        train = db[np.random.default_rng(0).choice(n, min(n, args.train), replace=False)]
        for factory in args.zoo:
            start = time.perf_counter()
            index = zoo.build(factory, db, train=train)
            build_s = time.perf_counter() - start
            knob = "nprobe" if "IVF" in factory else "efSearch"
            values = [4, 8, 16, 32, 64] if knob == "nprobe" else [32, 64, 128]
            for value in values:
                zoo.set_knobs(index, **({"nprobe": value} if knob == "nprobe" else {"ef_search": value}))
                ids, ms = zoo.timed_search(index, queries, args.k, repeats=args.repeats)
                record({"N": n, "dims": dims, "index": factory, "knob": f"{knob}={value}", "ms_per_query": round(ms, 3),
                        "recall@10": round(zoo.recall_at(ids, exact_ids, 10), 3),
                        "bytes_per_vector": round(zoo.bytes_per_vector(index), 1),
                        "speedup_vs_best_exact": round(best_exact / ms, 1), "build_s": round(build_s, 1),
                        "note": f"peak RSS {peak_memory_mb() or float('nan'):.0f} MB"})
            del index


if __name__ == "__main__":
    main()
