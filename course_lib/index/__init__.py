"""Nearest-neighbour search over global descriptors with faiss.

Exact inner-product search today (`exact`); approximate indexes (IVF, PQ, HNSW) and product
quantisation taught from scratch join with notebook 03.
"""
from .exact import build_index, rank_database, search

__all__ = ["build_index", "rank_database", "search"]
