"""The faiss index zoo: any index from a factory string ("Flat", "IVF64,Flat", "IVF64,PQ16", "HNSW32",
"OPQ16,IVF64,PQ16"), its knobs (nprobe, efSearch), its size per vector, its recall against exact search
and its milliseconds per query, measured the same way for every index.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd

from ..timing import fastest_seconds
from .exact import as_float32, complete_ranking, rank_database, top_k

KNOBS = {"nprobe": "IVF: inverted lists visited per query", "efSearch": "HNSW: candidate list length while searching"}


def make_index(factory: str, dim: int) -> faiss.Index:
    """An empty inner-product faiss index from a factory string; a string faiss rejects is a one-line ValueError."""
    try:
        return faiss.index_factory(int(dim), factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        reason = next((line for line in first if "Error" in line or "could not" in line), first[-1] if first else "")
        raise ValueError(f"index {factory!r}: faiss cannot build it for {dim}-D vectors ({reason.strip()})") from None


def build(factory: str, db: np.ndarray, train: np.ndarray | None = None) -> faiss.Index:
    """A filled index: trained on `train` (default: the database itself) when the kind needs training."""
    db = as_float32(db, "db")
    index = make_index(factory, db.shape[1])
    skip_polysemous_training(index)
    if not index.is_trained:
        train_index(index, factory, db if train is None else train)
    index.add(db)
    return index


def train_index(index: faiss.Index, factory: str, train: np.ndarray) -> None:
    """Train an index on (n, dim) vectors; faiss's refusal (e.g. fewer vectors than IVF lists) is a one-line ValueError."""
    train = as_float32(train, "train")
    try:
        index.train(train)
    except RuntimeError as err:
        reason = next((line for line in str(err).splitlines() if "Error" in line), str(err)).split(": ")[-1]
        raise ValueError(f"index {factory!r}: cannot train on {train.shape[0]} vectors ({reason.strip()})") from None


def skip_polysemous_training(index: faiss.Index) -> None:
    """faiss trains IVF-PQ codes for polysemous (Hamming pre-filtered) search by default, a search mode
    it then leaves off; that training took 15x as long as everything else (84 s vs 5.6 s for IVF64,PQ16
    on 5000 vectors), so it is skipped."""
    try:
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    except RuntimeError:
        return  # not an IVF index
    if hasattr(ivf, "do_polysemous_training"):
        ivf.do_polysemous_training = False


def set_knobs(index: faiss.Index, nprobe: int | None = None, ef_search: int | None = None) -> None:
    """Set the search-time knobs an index has; asking for a knob it does not have is a ValueError."""
    space = faiss.ParameterSpace()
    for name, value in (("nprobe", nprobe), ("efSearch", ef_search)):
        if value is None:
            continue
        if int(value) < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
        try:
            space.set_index_parameter(index, name, int(value))
        except RuntimeError:
            raise ValueError(f"{name}: this index ({type(index).__name__}) has no such knob") from None


def code_bytes(index: faiss.Index) -> int:
    """Bytes of the code stored per vector (PQ16: 16; Flat at 128-D: 512), without ids or graph links."""
    try:
        return int(index.sa_code_size())
    except RuntimeError:  # HNSW has no standalone codec; its vectors live in its storage index
        return int(faiss.downcast_index(faiss.downcast_index(index).storage).sa_code_size())


def bytes_per_vector(index: faiss.Index) -> float:
    """The whole serialised index (codes, ids, lists, graph links, codebooks) divided by how many vectors it holds."""
    return len(faiss.serialize_index(index)) / max(index.ntotal, 1)


def recall_at(found_ids: np.ndarray, exact_ids: np.ndarray, k: int) -> float:
    """k-recall@k: the mean share of the exact k nearest neighbours among the k an index returned."""
    found_ids, exact_ids = np.asarray(found_ids)[:, :k], np.asarray(exact_ids)[:, :k]
    hits = [np.intersect1d(f, e).size for f, e in zip(found_ids, exact_ids)]
    return float(np.mean(hits) / k)


def best_ms_per_query(search: Callable[[], object], n_queries: int, repeats: int = 3) -> tuple[object, float]:
    """(what `search()` returned, ms per query): the fastest of `repeats` calls of one batched search of
    n_queries queries (`timing.fastest_seconds`)."""
    result, seconds = fastest_seconds(search, repeats)
    return result, 1000 * seconds / n_queries


def timed_search(index: faiss.Index, queries: np.ndarray, k: int, repeats: int = 3) -> tuple[np.ndarray, float]:
    """(ids (n_queries, k), ms per query): the best of `repeats` runs of one batched search."""
    queries = as_float32(queries, "queries")
    (_, ids), ms = best_ms_per_query(lambda: index.search(queries, k), queries.shape[0], repeats)
    return ids, ms


@dataclass
class Measured:
    """One index measured: what it is, how it was set, and what it costs and finds."""

    factory: str
    knobs: dict
    build_s: float
    code_bytes: int
    bytes_per_vector: float
    ms_per_query: float
    recall_at_1: float
    recall_at_10: float


def measure(factory: str, db: np.ndarray, queries: np.ndarray, exact_ids: np.ndarray | None = None,
            train: np.ndarray | None = None, nprobe: int | None = None, ef_search: int | None = None,
            k: int = 10, index: faiss.Index | None = None) -> tuple[Measured, faiss.Index]:
    """Build (unless `index` is given), set knobs, search, and compare with the exact top k."""
    exact_ids = top_k(db, queries, k)[1] if exact_ids is None else exact_ids
    start = time.perf_counter()
    index = build(factory, db, train) if index is None else index
    build_s = time.perf_counter() - start
    set_knobs(index, nprobe, ef_search)
    ids, ms = timed_search(index, queries, k)
    knobs = {name: value for name, value in (("nprobe", nprobe), ("efSearch", ef_search)) if value is not None}
    return Measured(factory, knobs, build_s, code_bytes(index), bytes_per_vector(index), ms,
                    recall_at(ids, exact_ids, 1), recall_at(ids, exact_ids, min(10, k))), index


def sweep(index: faiss.Index, queries: np.ndarray, exact_ids: np.ndarray, knob: str, values, k: int = 10
          ) -> pd.DataFrame:
    """Recall@k and ms/query of one built index as one knob ("nprobe" or "efSearch") takes each value."""
    if knob not in KNOBS:
        raise ValueError(f"knob {knob!r}: choose from {', '.join(KNOBS)}")
    rows = []
    for value in values:
        set_knobs(index, **{"nprobe" if knob == "nprobe" else "ef_search": value})
        ids, ms = timed_search(index, queries, k)
        rows.append({knob: int(value), f"recall@{k}": recall_at(ids, exact_ids, k), "ms_per_query": ms})
    return pd.DataFrame(rows)


def smallest_knob_for_recall(table: pd.DataFrame, knob: str, target: float, k: int = 10) -> int | None:
    """The smallest knob value in a `sweep` table whose recall@k reaches `target` (None if none does)."""
    reached = table[table[f"recall@{k}"] >= target]
    return None if reached.empty else int(reached[knob].min())


def ranked_search(db: np.ndarray, queries: np.ndarray, factory: str | None = None, nprobe: int | None = None,
                  ef_search: int | None = None, k: int | None = None) -> tuple[np.ndarray, dict]:
    """Rankings in the evaluation layout (n_db, n_queries) from an index, and what it cost:
    {"index", "dims", "bytes_per_vector", "ms_per_query"}.

    factory None is exact search (float32, 4 bytes a dimension). An approximate index is trained on the
    database itself (unsupervised, the vectors it will hold), returns its top k (default: everything it
    finds) and the rest of the database follows in id order (`exact.complete_ranking`).
    """
    db, queries = as_float32(db, "db"), as_float32(queries, "queries")
    if factory is None:
        ranks, ms = best_ms_per_query(lambda: rank_database(db, queries), queries.shape[0], repeats=1)
        return ranks, {"index": "exact", "dims": db.shape[1], "bytes_per_vector": 4 * db.shape[1], "ms_per_query": ms}
    index = build(factory, db)
    set_knobs(index, nprobe, ef_search)
    ids, ms = timed_search(index, queries, db.shape[0] if k is None else min(k, db.shape[0]), repeats=1)
    info = {"index": factory + (f" nprobe={nprobe}" if nprobe else "") + (f" efSearch={ef_search}" if ef_search else ""),
            "dims": db.shape[1], "bytes_per_vector": code_bytes(index), "ms_per_query": ms}
    return complete_ranking(ids, db.shape[0]), info
