"""One retrieval experiment end to end: dataset -> descriptors -> faiss ranking -> protocol scores.

The CLI (`python -m course_lib evaluate`) and the notebooks share this code path, so
a number in a notebook is the number the command line prints.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from . import evaluation
from .search import rank_database

KAPPAS = (1, 5, 10)


def score_ranking(dataset, ranks) -> dict:
    """Protocol scores of a full ranking (n_db, n_queries) on `dataset`.

    Always returns "map", "mp@1", "mp@5", "mp@10", "per_query_ap"; the revisited
    protocol adds "map_easy", "map_medium" (= "map") and "map_hard"; UKBench adds
    "ukbench_score" (mean correct in the top 4, self included, as defined there).
    """
    result: dict = {}
    if dataset.protocol == "ukbench":
        result["ukbench_score"] = float(evaluation.ukbench_score(ranks))
    gnd = dataset.gnd
    if dataset.query_ids is not None:
        # A query that is a database image is not its own answer: it becomes junk,
        # which is exactly removing it from its list (the Holidays protocol).
        gnd = [{**g, "junk": [*g.get("junk", []), int(q)]} for g, q in zip(gnd, dataset.query_ids)]
    if dataset.protocol == "revisited":
        split = evaluation.evaluate_revisited(ranks, gnd, kappas=KAPPAS)
        for level in ("easy", "medium", "hard"):
            result[f"map_{level}"] = float(split[level]["map"])
        medium = split["medium"]
        result["map"] = float(medium["map"])
        result.update({f"mp@{k}": float(medium["mp"][k]) for k in KAPPAS})
        result["per_query_ap"] = [float(a) for a in medium["per_query_ap"]]
        return result
    mean_ap, aps, mp, _ = evaluation.compute_map(ranks, evaluation.revisited_split(gnd, "medium"), kappas=KAPPAS)
    result["map"] = float(mean_ap)
    result.update({f"mp@{k}": float(v) for k, v in zip(KAPPAS, mp)})
    result["per_query_ap"] = [float(a) for a in aps]
    return result


def evaluate_descriptors(dataset, descriptors) -> list[dict]:
    """Rank with faiss and score every method in `descriptors` (a features.Descriptors)."""
    rows = []
    for method in descriptors.methods:
        ranks = rank_database(descriptors.db[method], descriptors.queries[method])
        rows.append({"pooling": method, **score_ranking(dataset, ranks)})
    return rows


def results_table(rows: list[dict]) -> pd.DataFrame:
    """The printed table: one row per method, mAP and mP@k in percent, UKBench score in 0..4."""
    table = pd.DataFrame(rows).drop(columns=["per_query_ap"]).set_index("pooling")
    percent = [c for c in table.columns if c.startswith(("map", "mp@"))]
    table[percent] = (table[percent] * 100).round(1)
    if "ukbench_score" in table:
        table["ukbench_score"] = table["ukbench_score"].round(2)
    order = [c for c in ("map_easy", "map_medium", "map_hard", "map", "mp@1", "mp@5", "mp@10", "ukbench_score")
             if c in table.columns]
    if "map_medium" in order:
        order.remove("map")
    return table[order]


def run(dataset, backbone, methods: Sequence[str], image_size: int | None = 512, scales=(1.0,),
        tap: str | None = None, progress: bool = True) -> list[dict]:
    """Extract (or read cached) descriptors, rank, score: the whole experiment."""
    from .features import extract_descriptors

    descriptors = extract_descriptors(dataset, backbone, methods=methods, image_size=image_size,
                                      scales=scales, tap=tap, progress=progress)
    return evaluate_descriptors(dataset, descriptors)


def headline_score(row: dict) -> tuple[str, float]:
    """The one number papers report for a dataset, from a row of `evaluate_descriptors`.

    UKBench: its score out of 4 (2 decimals); every other protocol: mAP in percent (1 decimal),
    which for the revisited protocol is the Medium setup.
    """
    if "ukbench_score" in row:
        return "UKB score", round(float(row["ukbench_score"]), 2)
    return "mAP %", round(100 * float(row["map"]), 1)


def comparison_table(results: Mapping[str, list[dict]], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Methods x datasets, one headline score per cell, like the comparison tables of the papers.

    results: dataset name -> rows of `evaluate_descriptors`. labels: method name -> row label
    (methods without one keep their name). Rows appear in the order methods are first met;
    a method not run on a dataset leaves its cell empty (NaN). Columns read "<dataset> <score>".
    """
    labels = labels or {}
    cells: dict[str, dict[str, float]] = {}
    for dataset_name, rows in results.items():
        for row in rows:
            score_name, value = headline_score(row)
            cells.setdefault(row["pooling"], {})[f"{dataset_name} {score_name}"] = value
    columns = list(dict.fromkeys(column for by_column in cells.values() for column in by_column))
    table = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=columns)
    table.index = [labels.get(method, method) for method in table.index]
    table.index.name = "method"
    return table
