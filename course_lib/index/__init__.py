"""Nearest-neighbour search over global descriptors: exact search (`exact`), compression taught from
scratch (`pq`, `binary`), the faiss index zoo (`zoo`) and sharded extraction for large collections (`shards`).
"""
from .exact import build_index, complete_ranking, rank_database, search, top_k

__all__ = ["build_index", "complete_ranking", "rank_database", "search", "top_k"]
