"""Cost of post-processing a ranked list: each re-ranking method per query at 10^3, 10^4 and 10^5
database vectors, as a ratio to the first search (faiss exact inner product), with peak memory; and
spatial verification of the top 100 per query on real photos.

    python benchmarks/rerank.py [--sizes 1000 10000 100000] [--dim 128] [--queries 50] [--spatial-queries 5]

Each database size runs in its own process, so the peak resident memory printed for it is its own.
Database vectors are clustered unit vectors (a real collection has near-duplicates; uniform random
vectors have none), seeded. Database-side work (the k-NN graph of DBA, diffusion and k-reciprocal)
is done once, offline, and printed apart from the per-query cost. Diffusion stores a sparse graph:
its size is printed beside what a dense n x n float32 matrix would take.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import numpy as np


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 10), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), size=n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def one_size(n: int, dim: int, n_queries: int) -> dict:
    from course_lib.index import rank_database
    from course_lib.rerank import (
        alpha_query_expansion,
        average_query_expansion,
        database_augmentation,
    )
    from course_lib.rerank.diffusion import (
        affinity_graph,
        diffusion_rerank,
        normalized_graph,
    )
    from course_lib.rerank.reciprocal import k_reciprocal_rerank, reciprocal_database

    db = clustered(n, dim, seed=0)
    queries = clustered(n_queries, dim, seed=1)
    rank_database(db, queries[:2])  # warm up faiss (threads, allocator) before anything is timed
    ranks, search_s = timed(rank_database, db, queries)
    per_query = {"first search": search_s / n_queries}
    offline = {}
    _, s = timed(lambda: rank_database(db, average_query_expansion(db, queries, ranks, 2)))
    per_query["aqe k=2 (+ 2nd search)"] = s / n_queries
    _, s = timed(lambda: rank_database(db, alpha_query_expansion(db, queries, ranks, 5, 3.0)))
    per_query["alpha-qe k=5 (+ 2nd search)"] = s / n_queries
    augmented, offline["dba k=2 (database)"] = timed(database_augmentation, db, 2)
    _, s = timed(rank_database, augmented, queries)
    per_query["dba k=2 (search)"] = s / n_queries
    graph, offline["diffusion graph k=50"] = timed(lambda: normalized_graph(affinity_graph(db, 50, 3.0)))
    _, s = timed(diffusion_rerank, db, queries, ranks, 50, 10, 0.99, 3.0, 20, graph)
    per_query["diffusion k=50 (20 CG steps)"] = s / n_queries
    base, offline["k-reciprocal database k1=20"] = timed(reciprocal_database, db, 20, 6)
    _, s = timed(k_reciprocal_rerank, db, queries, 20, 6, 0.3, base)
    per_query["k-reciprocal k1=20 k2=6"] = s / n_queries
    graph_bytes = graph.data.nbytes + graph.indices.nbytes + graph.indptr.nbytes
    return {"n": n, "per_query_s": per_query, "offline_s": offline, "graph_mb": graph_bytes / 2 ** 20,
            "dense_mb": n * n * 4 / 2 ** 20, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def spatial(n_queries: int) -> dict:
    from course_lib.datasets import load_dataset
    from course_lib.rerank.spatial import cached_orb_features, verified_inliers

    dataset = load_dataset("mini", download=False)
    database = cached_orb_features(dataset.images)
    queries = cached_orb_features(dataset.queries[:n_queries], bboxes=dataset.bboxes[:n_queries])
    rng = np.random.default_rng(0)
    # Random shortlists of 100: the cost is what is measured, not which images come first.
    shortlists = [rng.permutation(len(database))[:100] for _ in range(n_queries)]
    times, cpu_times = [], []
    for query, shortlist in zip(queries, shortlists):
        cpu = time.process_time()
        _, s = timed(verified_inliers, query, [database[i] for i in shortlist], "affine")
        times.append(s)
        cpu_times.append(time.process_time() - cpu)
    return {"queries": n_queries, "median_s": float(np.median(times)), "max_s": float(np.max(times)),
            "cpu_median_s": float(np.median(cpu_times)), "cpu_max_s": float(np.max(cpu_times))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--spatial-queries", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one size in this process (internal)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.dim, args.queries)))
        return
    import faiss

    print(f"{platform.processor() or platform.machine()} | faiss {faiss.__version__} | {faiss.omp_get_max_threads()} "
          f"threads | dim {args.dim} | {args.queries} queries")
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--dim", str(args.dim), "--queries",
                              str(args.queries)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        base = result["per_query_s"]["first search"]
        print(f"\nn = {n:,}: peak memory {result['peak_rss_mb']:.0f} MB; diffusion graph {result['graph_mb']:.1f} MB "
              f"(a dense n x n float32 matrix: {result['dense_mb']:,.0f} MB)")
        for name, seconds in result["per_query_s"].items():
            print(f"  {name:32s} {1000 * seconds:9.2f} ms/query  x{seconds / base:7.1f} of the first search")
        for name, seconds in result["offline_s"].items():
            print(f"  {name:32s} {seconds:9.2f} s once (database side)")
    if args.spatial_queries:
        s = spatial(args.spatial_queries)
        print(f"\nspatial verification, ORB + RANSAC (affine), top 100 per query on mini's photos: median "
              f"{s['median_s']:.2f} s, slowest {s['max_s']:.2f} s per query over {s['queries']} queries "
              f"(features extracted beforehand, as at indexing time); CPU time median {s['cpu_median_s']:.2f} s, "
              f"slowest {s['cpu_max_s']:.2f} s (wall time above CPU time means the machine is busy)")


if __name__ == "__main__":
    main()
