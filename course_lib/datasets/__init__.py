"""Retrieval datasets: the registry of real benchmarks, their downloads, the embedded `mini`, folder datasets.

`load_dataset(name_or_path)` is the entry point; every dataset comes back as a `RetrievalDataset`.
Modules: base (the dataset shape), registry (names, manifests, fetching), formats (published layouts),
folder (bring your own), mini and mini_train (built offline), rsfm, tuples; downloads live in course_lib.download.
"""
from .base import IMAGE_EXTENSIONS, PROTOCOLS, DatasetFormatError, DatasetNotAvailable, RetrievalDataset
from .folder import load_folder
from .formats import read_gnd_pickle
from .registry import DATASETS, MANIFEST_DIR, describe_registry, is_available, load_dataset, load_manifest

__all__ = ["DATASETS", "IMAGE_EXTENSIONS", "MANIFEST_DIR", "PROTOCOLS", "DatasetFormatError", "DatasetNotAvailable",
           "RetrievalDataset", "describe_registry", "is_available", "load_dataset", "load_folder", "load_manifest",
           "read_gnd_pickle"]
