"""Retrieval datasets: one registry, one in-memory shape for all of them.

Every dataset, from the embedded `mini` to the revisited Oxford/Paris, becomes a
`RetrievalDataset`: database image paths, query image paths with optional query
boxes, and per-query ground truth in the revisited Oxford/Paris structure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROTOCOLS = ("revisited", "oxford", "holidays", "ukbench", "custom")


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

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_queries(self) -> int:
        return len(self.queries)

    def gnd_for(self, level: str = "medium") -> list[dict]:
        """Ground truth as {"ok": [...], "junk": [...]} per query for one difficulty.

        The revisited protocol (Radenovic et al., CVPR 2018):
          easy:   ok = easy,        junk = junk + hard
          medium: ok = easy + hard, junk = junk
          hard:   ok = hard,        junk = junk + easy
        """
        out = []
        for g in self.gnd:
            easy, hard, junk = list(g.get("easy", [])), list(g.get("hard", [])), list(g.get("junk", []))
            if level == "easy":
                out.append({"ok": easy, "junk": junk + hard})
            elif level == "medium":
                out.append({"ok": easy + hard, "junk": junk})
            elif level == "hard":
                out.append({"ok": hard, "junk": junk + easy})
            else:
                raise ValueError(f"level must be 'easy', 'medium' or 'hard', not {level!r}")
        return out
