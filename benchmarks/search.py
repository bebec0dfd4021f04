"""Exact and approximate search at 10^5 and 10^6 vectors, ratios measured in one run.

Database: the labelled stand-in of `course_lib.index.distractors` (Gaussian vectors with the mean and
covariance of real GeM descriptors of mini-train, EfficientNet-Lite0, 1280-D), optionally rotated to
fewer dimensions by a random orthonormal projection. Queries: 100 more stand-in vectors, top 100.

1. exact: numpy chunked matmul + argpartition (`index.top_k`) against faiss IndexFlatIP, ratio printed;
2. the zoo: each index's ms/query, recall@10 of the exact top 10, bytes per vector, build time.
Rows are appended to a CSV (default benchmarks/search_results.csv) as they are measured.

    python benchmarks/search.py                          # N = 1e5 at 1280-D and 1e6 at 320-D
    python benchmarks/search.py --sizes 100000 --dims 1280 --zoo "IVF256,PQ32"
"""
from __future__ import annotations

import argparse
import platform
import resource
import time
from functools import partial

import faiss
import numpy as np
import pandas as pd

from course_lib.datasets import load_dataset
from course_lib.features import extract_descriptors
from course_lib.files import atomic_write
from course_lib.index import top_k, zoo
from course_lib.index.distractors import gaussian_distractors
from course_lib.models import load_backbone
from course_lib.transforms import fit_pca, l2_normalise


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


def best_ms(fn, n_queries: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times) / n_queries


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    args = parser.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}, faiss {faiss.__version__}, "
          f"faiss threads {faiss.omp_get_max_threads()}")
    rows = []

    def record(row):
        rows.append(row)
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        with atomic_write(args.out) as f:
            f.write(pd.DataFrame(rows).to_csv(index=False).encode())

    for n, dims in zip(args.sizes, args.dims):
        data = stand_in(n + args.queries, dims, seed=n)
        db, queries = data[:n], data[n:]
        exact_ids = top_k(db, queries, args.k)[1]
        numpy_ms = best_ms(partial(top_k, db, queries, args.k), len(queries), args.repeats)
        flat = faiss.IndexFlatIP(dims)
        flat.add(db)
        faiss_ms = best_ms(partial(flat.search, queries, args.k), len(queries), args.repeats)
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
                        "note": f"peak RSS {peak_rss_mb():.0f} MB"})
            del index


if __name__ == "__main__":
    main()
