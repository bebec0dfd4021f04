"""The one in-memory shape of every retrieval dataset, and the errors loading one can raise.

Every dataset, from the embedded `mini` to the revisited Oxford/Paris, becomes a
`RetrievalDataset`: database image paths, query image paths with optional query
boxes, and per-query ground truth in the revisited Oxford/Paris structure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROTOCOLS = ("revisited", "oxford", "holidays", "ukbench", "custom")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


class DatasetNotAvailable(RuntimeError):
    """A dataset that is not on this machine and cannot be fetched now (one-sentence message)."""


class DatasetFormatError(ValueError):
    """A dataset folder, ground-truth file or manifest that is malformed; says what and where."""


@dataclass
class RetrievalDataset:
    """A retrieval benchmark, ready for extraction and evaluation.

    images:  database image files (absolute paths), index i is database id i.
    queries: query image files (absolute paths); for Holidays/UKBench these are
             database images themselves (see `query_ids`).
    bboxes:  per query, (x1, y1, x2, y2) in pixels of the original image, or None.
    gnd:     per query a dict with lists of database ids: "easy", "hard", "junk"
             (revisited structure). Datasets with a single positive level
             (Oxford5k, Paris6k, Holidays, UKBench, custom folders with
             "positives") put all positives in "easy" and leave "hard" empty.
    protocol: how to evaluate it (one of PROTOCOLS).
    query_ids: for datasets whose queries are database images (Holidays,
             UKBench), the database id of each query; otherwise None.
    positive_boxes: per query, {database id: (x1, y1, x2, y2)} boxing the query's object in
             that positive image (pixels of the image file), for the positives that have one;
             None when the dataset gives no such boxes.
    """

    name: str
    root: Path
    images: list[Path]
    queries: list[Path]
    bboxes: list[tuple[float, float, float, float] | None]
    gnd: list[dict]
    protocol: str = "custom"
    query_ids: list[int] | None = None
    citation: str = ""
    extra: dict = field(default_factory=dict)
    positive_boxes: list[dict[int, tuple[float, float, float, float]]] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_queries(self) -> int:
        return len(self.queries)

    def summary(self) -> str:
        """One line: name, database size, number of queries, protocol."""
        kind = " (database images)" if self.query_ids is not None else ""
        return (f"{self.name}: {len(self.images)} database images, {self.n_queries} queries{kind}, "
                f"{self.protocol} protocol")
