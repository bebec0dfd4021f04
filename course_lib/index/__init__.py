"""Nearest-neighbour search over global descriptors: exact search (`exact`), compression taught from
scratch (`pq`, `binary`), the faiss index zoo (`zoo`) and sharded extraction for large collections (`shards`).
Names are imported on first use (faiss only when a search runs).
"""
from ..lazy_imports import lazy_face

_NAMES = {name: "exact" for name in ("build_index", "complete_ranking", "exact_scores", "rank_database", "search", "top_k")}
__all__ = [*_NAMES]  # noqa: PLE0604 (names of a lazy face)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
