"""Cost of post-processing a ranked list: each re-ranking method per query at 10^3, 10^4 and 10^5
database vectors, as a ratio to the first search (exact, the whole database ranked), with peak memory;
and spatial verification of the real top 100 of every mini query, in one process and in two.

    python benchmarks/rerank.py [--sizes 1000 10000 100000] [--dim 128] [--queries 50] [--spatial-queries 22]
                                [--workers 2]

Each database size runs in its own process, so the peak resident memory printed for it (VmHWM) is its own.
The k-NN graphs (DBA, diffusion, k-reciprocal) are searched with faiss.
Database vectors are clustered unit vectors (a real collection has near-duplicates; uniform random
vectors have none), seeded. Database-side work (the k-NN graph of DBA, diffusion and k-reciprocal)
is done once, offline, and printed apart from the per-query cost. Diffusion stores a sparse graph:
its size is printed beside what a dense n x n float32 matrix would take.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time

import numpy as np

from course_lib.index.shards import peak_memory_mb
from course_lib.transforms import l2_normalise


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, n // 10), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), size=n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    return l2_normalise(x)


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
            "dense_mb": n * n * 4 / 2 ** 20, "peak_rss_mb": peak_memory_mb() or float("nan")}


def spatial(n_queries: int, workers: int) -> dict:
    """Verify the real top 100 (global R-MAC search on mini) of each query: wall and CPU seconds per query in
    one process, wall seconds with `workers` processes fitting RANSAC, and whether the counts agree."""
    from course_lib.datasets import load_dataset
    from course_lib.features import extract_descriptors
    from course_lib.index import rank_database
    from course_lib.models import load_backbone
    from course_lib.rerank.spatial import (
        cached_orb_features,
        verification_pool,
        verified_inliers,
    )

    dataset = load_dataset("mini", download=False)
    descriptors = extract_descriptors(dataset, load_backbone(), ["rmac"], progress=False)
    shortlists = rank_database(descriptors.db["rmac"], descriptors.queries["rmac"])[:100, :n_queries].T
    _, features_s = timed(cached_orb_features, dataset.images)   # indexing time: once, cached by content
    database = cached_orb_features(dataset.images)
    queries = cached_orb_features(dataset.queries[:n_queries], bboxes=dataset.bboxes[:n_queries])
    serial, serial_cpu, parallel, counts = [], [], [], []
    for query, shortlist in zip(queries, shortlists):
        cpu = time.process_time()
        found, s = timed(verified_inliers, query, [database[i] for i in shortlist], "affine")
        serial.append(s)
        serial_cpu.append(time.process_time() - cpu)
        counts.append(found)
    start = time.perf_counter()
    pool = verification_pool(workers)
    with pool:
        list(pool.map(int, range(workers)))   # the workers are up before anything is timed
        start_s = time.perf_counter() - start
        same = True
        for query, shortlist, expected in zip(queries, shortlists, counts):
            found, s = timed(verified_inliers, query, [database[i] for i in shortlist], "affine", pool=pool)
            parallel.append(s)
            same &= bool(np.array_equal(found, expected))
    fitted = int(sum((c > 0).sum() for c in counts))
    return {"queries": len(queries), "features_s": features_s, "median_s": float(np.median(serial)),
            "max_s": float(np.max(serial)), "cpu_median_s": float(np.median(serial_cpu)),
            "parallel_median_s": float(np.median(parallel)), "parallel_max_s": float(np.max(parallel)),
            "pool_start_s": start_s, "same": same, "pairs_with_inliers": fitted, "workers": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--spatial-queries", type=int, default=22, help="mini queries verified (default: all 22)")
    parser.add_argument("--workers", type=int, default=2, help="processes fitting RANSAC in the parallel run")
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
        s = spatial(args.spatial_queries, args.workers)
        print(f"\nspatial verification, ORB + RANSAC (affine), the real top 100 of {s['queries']} mini queries "
              f"(global R-MAC search); {s['pairs_with_inliers']} of {100 * s['queries']} pairs have inliers")
        print(f"  local features of the database: {s['features_s']:.2f} s (read from the cache when warm; keyed by "
              f"image content)")
        print(f"  1 process:  median {s['median_s']:.2f} s, slowest {s['max_s']:.2f} s wall per query "
              f"(CPU median {s['cpu_median_s']:.2f} s)")
        print(f"  {s['workers']} processes: median {s['parallel_median_s']:.2f} s, slowest {s['parallel_max_s']:.2f} s "
              f"wall per query (x{s['median_s'] / s['parallel_median_s']:.2f} of 1 process; pool started once in "
              f"{s['pool_start_s']:.2f} s); inlier counts identical: {s['same']}")


if __name__ == "__main__":
    main()
