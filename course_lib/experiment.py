"""One retrieval experiment end to end: dataset -> descriptors -> faiss ranking -> protocol scores.

The CLI (`python -m course_lib evaluate`) and the notebooks share this code path, so
a number in a notebook is the number the command line prints.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from . import evaluation
from .index import rank_database

KAPPAS = (1, 5, 10)


def _levels(dataset) -> tuple[str, ...]:
    """The levels `dataset` is scored at: the revisited protocol's three, or medium alone (one level of positives)."""
    return evaluation.LEVELS if dataset.protocol == "revisited" else ("medium",)


def ground_truth(dataset, level: str = "medium", queries=None) -> list[dict]:
    """Per query {"ok", "junk"} at one level: what AP counts for `dataset` (`evaluation.level_ground_truth`;
    a query that is itself a database image is junk for itself). queries: which queries (default all)."""
    queries = range(dataset.n_queries) if queries is None else list(queries)
    query_ids = None if dataset.query_ids is None else [dataset.query_ids[q] for q in queries]
    return evaluation.level_ground_truth([dataset.gnd[q] for q in queries], level, query_ids)


def _evaluate(dataset, ranks, kappas=KAPPAS) -> dict:
    """`evaluation.evaluate_revisited` of a ranking at every level of `dataset`."""
    return evaluation.evaluate_revisited(ranks, dataset.gnd, kappas, _levels(dataset), dataset.query_ids)


def score_ranking(dataset, ranks) -> dict:
    """Protocol scores of a full ranking (n_db, n_queries) on `dataset`.

    Always returns "map", "mp@1", "mp@5", "mp@10", "per_query_ap" (Medium level); the revisited
    protocol adds "map_easy", "map_medium" (= "map") and "map_hard"; UKBench adds
    "ukbench_score" (mean correct in the top 4, self included, as defined there).
    """
    result: dict = {}
    if dataset.protocol == "ukbench":
        result["ukbench_score"] = float(evaluation.ukbench_score(ranks))
    scores = _evaluate(dataset, ranks)
    if dataset.protocol == "revisited":
        result.update({f"map_{level}": float(scores[level]["map"]) for level in _levels(dataset)})
    medium = scores["medium"]
    result["map"] = float(medium["map"])
    result.update({f"mp@{k}": medium["mp"][k] for k in KAPPAS})
    result["per_query_ap"] = [float(a) for a in medium["per_query_ap"]]
    return result


def evaluate_descriptors(dataset, descriptors, prefix: str = "", rerank=None, search=None) -> list[dict]:
    """Rank with faiss and score every method in `descriptors` (a features.Descriptors).

    One row per method; its "method" is the method name, after `prefix` (e.g. "alexnet ") so
    that rows of several backbones can share one table. rerank: post-processing steps after the
    search (a `rerank` pipeline string such as "aqe:k=2,dba:k=2" or its parsed steps); the rows
    then also say which ("rerank"). search: (db, queries) -> (ranks, info) in place of exact search,
    e.g. `functools.partial(index.zoo.ranked_search, factory="IVF64,PQ16")`; its info joins the row.
    """
    if rerank is not None:
        from .rerank import apply_pipeline, format_pipeline, parse_pipeline

        rerank = parse_pipeline(rerank) if isinstance(rerank, str) else list(rerank)
    rows = []
    for method in descriptors.methods:
        row = {"method": prefix + method}
        if search is None:
            ranks = rank_database(descriptors.db[method], descriptors.queries[method])
        else:
            ranks, info = search(descriptors.db[method], descriptors.queries[method])
            row.update(info)
        if rerank:
            ranks = apply_pipeline(rerank, descriptors.db[method], descriptors.queries[method], ranks,
                                   dataset=dataset).ranks
            row["rerank"] = format_pipeline(rerank)
        rows.append({**row, **score_ranking(dataset, ranks)})
    return rows


def query_result(dataset, descriptors, method: str, query: int) -> tuple[list[int], dict, float]:
    """One query with one method: (database ids best first, its {"ok", "junk"} ground truth and its AP,
    both at the Medium level)."""
    ranks = rank_database(descriptors.db[method], descriptors.queries[method][query:query + 1])
    gnd = ground_truth(dataset, "medium", [query])
    ap = evaluation.compute_map(ranks, gnd, kappas=())[0]
    return [int(i) for i in ranks[:, 0]], gnd[0], float(ap)


def per_query_table(rows: list[dict], decimals: int | None = 2) -> pd.DataFrame:
    """AP of every query (rows) under every method (columns), from rows of `evaluate_descriptors`;
    rounded to `decimals` (None: as computed)."""
    table = pd.DataFrame({row["method"]: row["per_query_ap"] for row in rows})
    table = table if decimals is None else table.round(decimals)
    table.index.name = "query"
    return table


def results_table(rows: list[dict]) -> pd.DataFrame:
    """The printed table: one row per method, mAP and mP@k in percent, UKBench score in 0..4."""
    table = pd.DataFrame(rows).drop(columns=["per_query_ap"]).set_index("method")
    percent = [c for c in table.columns if c.startswith(("map", "mp@"))]
    table[percent] = (table[percent] * 100).round(1)
    if "ukbench_score" in table:
        table["ukbench_score"] = table["ukbench_score"].round(2)
    order = [c for c in ("map_easy", "map_medium", "map_hard", "map", "mp@1", "mp@5", "mp@10", "ukbench_score")
             if c in table.columns]
    if "map_medium" in order:
        order.remove("map")
    return table[order]


def run(dataset, backbone, methods: Sequence[str], max_side: int | None = 512, scales=(1.0,),
        tap: str | None = None, progress: bool = True, prefix: str = "", batch_size: int | None = None,
        rerank=None) -> list[dict]:
    """Extract (or read cached) descriptors, rank, score: the whole experiment. `prefix` names the
    rows of another backbone apart ("alexnet fc6"); `rerank` post-processes each ranking (see
    `evaluate_descriptors`)."""
    from .features import extract_descriptors

    descriptors = extract_descriptors(dataset, backbone, methods=methods, max_side=max_side, scales=scales,
                                      tap=tap, progress=progress, batch_size=batch_size)
    return evaluate_descriptors(dataset, descriptors, prefix=prefix, rerank=rerank)


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
            cells.setdefault(row["method"], {})[f"{dataset_name} {score_name}"] = value
    columns = list(dict.fromkeys(column for by_column in cells.values() for column in by_column))
    table = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=columns)
    table.index = [labels.get(method, method) for method in table.index]
    table.index.name = "method"
    return table


def compare_datasets(names: Sequence[str], runs: Sequence[dict], download: bool = False,
                     known: Mapping[str, list[dict]] | None = None, log=print) -> dict[str, list[dict]]:
    """The same experiments on several datasets: {dataset name: rows}, ready for `comparison_table`.

    runs: keyword arguments of `run` without the dataset (backbone, methods, max_side, prefix, ...).
    known: rows already computed (e.g. {"mini": rows}), kept as they are. A dataset that is not
    here and cannot be fetched (downloads off, offline) is skipped with one line through `log`.
    """
    from .datasets import DatasetNotAvailable, load_dataset
    from .download import DownloadError

    results = {name: list(rows) for name, rows in (known or {}).items()}
    for name in names:
        if name in results:
            continue
        try:
            dataset = load_dataset(name, download=download, progress=False)
        except (DatasetNotAvailable, DownloadError) as error:
            log(f"{name}: skipped, not available ({type(error).__name__})")
            continue
        results[name] = [row for kwargs in runs for row in run(dataset, progress=False, **kwargs)]
    return results


def save_results(table: pd.DataFrame, name: str) -> Path:
    """Write a results table as CSV under the results folder (config.results_dir()); returns the path."""
    from . import config
    from .files import atomic_write

    path = config.results_dir() / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(table.to_csv().encode("utf-8"))
    return path


# --------------------------------------------------------------------------- the experiment log

def append_log(path: str | Path, record: dict) -> None:
    """Add one run (`run_record`) to an experiment log: a JSON Lines file, one run per line, never rewritten."""
    import json

    from .files import json_safe

    line = json.dumps(json_safe(record), allow_nan=False, sort_keys=True, default=str)  # a path as its text
    with open(Path(path).expanduser(), "a", encoding="utf-8") as log:
        log.write(line + "\n")


def run_record(dataset, results: Sequence[dict], settings: Mapping, seed: int | None = None, note: str = "",
               command: str = "") -> dict:
    """One line of the experiment log, enough to reproduce the run: when, which kit (version and commit),
    how it was started (`command`), which data (`data_fingerprint`, with its counts), the seed (None: the
    run draws no random numbers), a free `note`, the `settings` (backbone, image size, ...) and the
    `results` with their per-query AP."""
    from datetime import datetime, timezone

    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kit": kit_provenance(),
            "command": command, "dataset": dataset.name,
            "data": {"fingerprint": data_fingerprint(dataset), "images": len(dataset.images),
                     "queries": dataset.n_queries},
            "seed": seed, "note": note, **settings, "results": list(results)}


def kit_provenance() -> dict:
    """{"version", "commit"} of the running kit. The commit is read from the checkout the kit runs from
    (no git program needed), else from pip's record of a git install (Colab's `pip install git+...`),
    else "unknown" (a wheel, or a copy without .git). Uncommitted edits are not seen."""
    from . import __version__

    commit = checkout_commit(Path(__file__).resolve().parents[1]) or _installed_commit() or "unknown"
    return {"version": __version__, "commit": commit}


def checkout_commit(repository: str | Path) -> str | None:
    """The commit checked out in `repository`, read from its .git folder (a branch's loose or packed ref,
    or a detached HEAD), or None when there is no readable one."""
    git = Path(repository) / ".git"
    try:
        if git.is_file():  # a linked worktree or a submodule: ".git" says where its folder is
            git = (git.parent / git.read_text(encoding="utf-8").split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head if _is_commit(head) else None
        ref = head[len("ref: "):]
        common = git / "commondir"  # a linked worktree keeps its branches in the main .git
        shared = (git / common.read_text(encoding="utf-8").strip()).resolve() if common.is_file() else git
        for folder in dict.fromkeys((git, shared)):
            if (folder / ref).is_file():
                loose = (folder / ref).read_text(encoding="utf-8").strip()
                return loose if _is_commit(loose) else None
        packed = shared / "packed-refs"
        for line in packed.read_text(encoding="utf-8").splitlines() if packed.is_file() else ():
            commit, _, name = line.partition(" ")
            if name == ref and _is_commit(commit):
                return commit
    except (OSError, UnicodeDecodeError, IndexError):
        return None
    return None


def _is_commit(text: str) -> bool:
    import re

    return re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", text) is not None


def _installed_commit() -> str | None:
    import json
    from importlib import metadata

    try:
        record = metadata.distribution("course_lib").read_text("direct_url.json")
        vcs = json.loads(record or "{}").get("vcs_info", {})
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        return None
    commit = vcs.get("commit_id", "")
    return commit if _is_commit(commit) else None


def data_fingerprint(dataset) -> str:
    """sha256 of the data a run scored: each image's path inside the dataset folder and its bytes (database
    and queries), the query boxes and the ground truth. The same data in another folder or clone has the
    same fingerprint (cache keys hash absolute paths instead: a cache belongs to one machine)."""
    import hashlib
    import json

    from .cache import box_spec
    from .files import content_hash

    root = Path(dataset.root)
    digest = hashlib.sha256()
    for path in [*dataset.images, *dataset.queries]:
        inside = Path(path).relative_to(root).as_posix() if Path(path).is_relative_to(root) else Path(path).name
        digest.update(f"{inside}|{content_hash(path)}\n".encode())
    truth = {"protocol": dataset.protocol, "gnd": dataset.gnd, "query_ids": dataset.query_ids,
             "bboxes": [box_spec(b) for b in dataset.bboxes]}
    digest.update(json.dumps(truth, sort_keys=True, default=lambda array: array.tolist()).encode())
    return digest.hexdigest()


def read_log(path: str | Path) -> list[dict]:
    """The runs of an experiment log, oldest first; a line that is no run's record is named by its number."""
    import json

    path = Path(path).expanduser()
    runs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except ValueError:
            run = None
        if not isinstance(run, dict) or not isinstance(run.get("results"), list):
            raise ValueError(f"{path}:{number}: not a JSON record of a run (one object with \"results\" a line)")
        runs.append(run)
    return runs


def log_table(runs: Sequence[dict]) -> pd.DataFrame:
    """One row per run and method: run (1 = the oldest), date (UTC), dataset, backbone, image size, method,
    mAP in percent (Medium for the revisited protocol), the kit's commit (8 digits), seed and note.
    Records written before the log held the kit, seed and note show "unknown" and "-" there."""
    rows = []
    for number, run in enumerate(runs, start=1):
        commit = str((run.get("kit") or {}).get("commit", "unknown"))
        for result in run["results"]:
            rows.append({"run": number, "date": str(run.get("date", ""))[:16].replace("T", " "),
                         "dataset": run.get("dataset", ""), "backbone": run.get("backbone", ""),
                         "size": run.get("max_side", "-"), "method": result.get("method", ""),
                         "mAP %": round(100 * result["map"], 1) if result.get("map") is not None else float("nan"),
                         "kit": commit if commit == "unknown" else commit[:8],
                         "seed": "-" if run.get("seed") is None else run["seed"], "note": run.get("note", "")})
    return pd.DataFrame(rows, columns=["run", "date", "dataset", "backbone", "size", "method", "mAP %", "kit",
                                       "seed", "note"])


def interval_table(dataset, descriptors, methods: Sequence[str] | None = None, confidence: float = 0.95
                   ) -> pd.DataFrame:
    """mAP in percent with its bootstrap interval over queries (`rows_interval_table`), per method
    and level: columns "map_easy", "map_easy_low", "map_easy_high", ... (revisited) or "map", ....

    With a few dozen queries an mAP is uncertain by several points; this table says by how much.
    """
    rows_of_level: dict[str, list[dict]] = {level: [] for level in _levels(dataset)}
    for method in methods or descriptors.methods:
        scores = _evaluate(dataset, rank_database(descriptors.db[method], descriptors.queries[method]), kappas=())
        for level, level_rows in rows_of_level.items():
            level_rows.append({"method": method, "per_query_ap": scores[level]["per_query_ap"]})
    if dataset.protocol != "revisited":
        return rows_interval_table(rows_of_level["medium"], confidence)
    return pd.concat([rows_interval_table(level_rows, confidence).rename(columns=lambda c: f"map_{level}{c[3:]}")
                      for level, level_rows in rows_of_level.items()], axis=1)


def rows_interval_table(rows: list[dict], confidence: float = 0.95) -> pd.DataFrame:
    """mAP in percent with its bootstrap interval over queries (`evaluation.bootstrap_ci`), from result rows
    (their per-query AP, Medium level in `evaluate_descriptors` rows): columns "map", "map_low", "map_high",
    one row per method; what `evaluate --plot` draws. Queries without positives (NaN AP) are left out."""
    import numpy as np

    table = {}
    for row in rows:
        aps = np.asarray(row["per_query_ap"], dtype=float)
        mean, low, high = evaluation.bootstrap_ci(aps[~np.isnan(aps)], confidence)
        table[row["method"]] = {"map": 100 * mean, "map_low": 100 * low, "map_high": 100 * high}
    result = pd.DataFrame.from_dict(table, orient="index").round(1) + 0.0  # no -0.0
    result.index.name = "method"
    return result


def paired_table(rows: list[dict], pairs: Sequence[tuple[str, str]], confidence: float = 0.95) -> pd.DataFrame:
    """Method A against method B on the same queries (Medium AP of `evaluate_descriptors` rows): the mean
    per-query difference A - B in AP points with its paired bootstrap interval, the queries each side
    wins, and "real" when the interval excludes 0 (`evaluation.paired_difference`)."""
    per_query = per_query_table(rows, decimals=None)
    table = {}
    for a, b in pairs:
        result = evaluation.paired_difference(per_query[a], per_query[b], confidence)
        table[f"{a} - {b}"] = {"difference": 100 * result["difference"], "low": 100 * result["low"],
                               "high": 100 * result["high"], "A wins": result["wins"], "B wins": result["losses"],
                               "real": result["real"]}
    result = pd.DataFrame.from_dict(table, orient="index").round({"difference": 1, "low": 1, "high": 1})
    result[["difference", "low", "high"]] += 0.0  # -0.0 after rounding prints as 0.0
    result.index.name = "A - B"
    return result


def run_reduced(dataset, learn_dataset, backbone, methods: Sequence[str], dims: int | None = None,
                whiten: bool = False, power: float = 1.0, index: str | None = None, nprobe: int | None = None,
                max_side: int | None = 512, scales=(1.0,), progress: bool = True) -> list[dict]:
    """`run` with a PCA (or PCA-whitening) learned on `learn_dataset` and an optional faiss index
    (factory string): rows gain "dims", "index", "bytes_per_vector", "ms_per_query"."""
    from functools import partial

    from .features import cache_key, extract_descriptors, resolve_method
    from .index.zoo import ranked_search
    from .transforms import reduce_descriptors

    descriptors = extract_descriptors(dataset, backbone, methods=methods, max_side=max_side, scales=scales,
                                      progress=progress)
    if dims is not None or whiten:
        learn = extract_descriptors(learn_dataset, backbone, methods=methods, max_side=max_side, scales=scales,
                                    progress=progress)
        keys = {m: cache_key(learn_dataset, backbone.name, resolve_method(m, backbone)[1],
                             resolve_method(m, backbone)[0], max_side, scales) for m in methods}
        descriptors = reduce_descriptors(descriptors, learn, dims, whiten, power, learn_keys=keys)
    return evaluate_descriptors(dataset, descriptors, search=partial(ranked_search, factory=index, nprobe=nprobe))
