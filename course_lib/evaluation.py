"""Evaluation protocols of instance retrieval: revisited Oxford/Paris mAP and mP@k (Easy/Medium/Hard),
INRIA Holidays mAP and the UKBench N-S score. Pure numpy, so it runs wherever the descriptors came from.

Conventions shared by every function here
-----------------------------------------
* ``ranks`` has shape ``(n_database, n_queries)``: column ``q`` lists the database ids for query ``q``,
  best match first. From a similarity matrix ``sim`` of shape ``(n_database, n_queries)`` it is
  ``np.argsort(-sim, axis=0)``.
* Positions are 0-based: the best match is at position 0.
* Ground truth per query is a dict with ``"ok"`` (the positives) and optionally ``"junk"`` (images that
  are neither right nor wrong, e.g. too occluded to count: they are removed from the list before
  anything is counted, so ranking them anywhere neither helps nor hurts).

References
----------
* F. Radenovic, A. Iscen, G. Tolias, Y. Avrithis, O. Chum. "Revisiting Oxford and Paris: Large-Scale
  Image Retrieval Benchmarking", CVPR 2018 (protocol and its reference code, revisitop).
* J. Philbin, O. Chum, M. Isard, J. Sivic, A. Zisserman. "Object retrieval with large vocabularies and
  fast spatial matching", CVPR 2007 (the original Oxford ``compute_ap``, same trapezoid rule).
* H. Jegou, M. Douze, C. Schmid. "Hamming embedding and weak geometric consistency for large scale image
  search", ECCV 2008 (INRIA Holidays and its evaluation script ``holidays_map.py``).
* D. Nister, H. Stewenius. "Scalable recognition with a vocabulary tree", CVPR 2006 (UKBench).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "EvaluationInputError",
    "compute_ap",
    "compute_map",
    "revisited_split",
    "with_query_as_junk",
    "level_ground_truth",
    "evaluate_revisited",
    "ukbench_score",
    "bootstrap_ci",
    "paired_difference",
]

LEVELS = ("easy", "medium", "hard")  # the revisited protocol's setups; a dataset with one level of positives has medium


class EvaluationInputError(ValueError):
    """Ranks or ground truth that the protocols cannot score (wrong shape, unknown ids, ...)."""


# --------------------------------------------------------------------------------------------------
# Average precision of one query
# --------------------------------------------------------------------------------------------------

def compute_ap(ranks_of_positives, n_positives: int) -> float:
    r"""Average precision by the trapezoid rule, as in the Oxford and revisited Oxford/Paris protocols.

    ``ranks_of_positives`` are the 0-based positions :math:`r_0 < r_1 < \dots < r_{m-1}` of the
    positives in the ranked list *after junk removal*; ``n_positives`` is :math:`n`, the number of
    positives in the ground truth (:math:`m < n` if some positives were never retrieved; they then add
    nothing).

    Walking down the list, each positive raises recall by :math:`1/n`. Just before the :math:`j`-th
    positive (0-based) is retrieved, :math:`r_j` items have been seen, :math:`j` of them positive;
    just after, :math:`r_j + 1` items, :math:`j + 1` positive. The precision-recall curve over that
    recall step is approximated by the straight line between the two precisions, and AP is the area
    under that piecewise-linear curve, a sum of trapezoids:

    .. math::

        \mathrm{AP} = \frac{1}{n} \sum_{j=0}^{m-1}
            \frac{1}{2}\left(\frac{j}{r_j} + \frac{j+1}{r_j+1}\right),
        \qquad \text{with } \frac{j}{r_j} := 1 \text{ when } r_j = 0,

    i.e. precision is taken as 1 at recall 0 before anything is retrieved.

    Example: positives at positions 0 and 2, :math:`n = 2`:
    :math:`\tfrac12\left[\tfrac12(1 + 1) + \tfrac12(\tfrac12 + \tfrac23)\right] = 19/24 \approx 0.7917`.

    This differs from the step-wise AP of scikit-learn's ``average_precision_score``, which uses only
    the right-hand precision :math:`(j+1)/(r_j+1)` of each step (5/6 in the example); see the tests.
    """
    positions = np.asarray(ranks_of_positives)
    if positions.ndim != 1:
        raise EvaluationInputError(
            f"ranks_of_positives must be a 1-D list of positions, got shape {positions.shape}")
    if positions.size and not np.issubdtype(positions.dtype, np.integer):
        raise EvaluationInputError(
            f"ranks_of_positives must hold integer positions, got dtype {positions.dtype}")
    if n_positives < 1:
        raise EvaluationInputError(f"n_positives must be at least 1, got {n_positives}")
    if positions.size > n_positives:
        raise EvaluationInputError(
            f"ranks_of_positives has {positions.size} positions but n_positives is only {n_positives}")
    if positions.size and (positions[0] < 0 or np.any(np.diff(positions) <= 0)):
        raise EvaluationInputError(
            "ranks_of_positives must be non-negative and strictly increasing (sorted, no repeats)")

    positions = positions.astype(np.float64)
    n_seen_before = np.arange(positions.size, dtype=np.float64)  # j: positives above the j-th one
    with np.errstate(divide="ignore", invalid="ignore"):
        precision_before = np.where(positions == 0, 1.0, n_seen_before / positions)
    precision_after = (n_seen_before + 1) / (positions + 1)
    return float(np.sum((precision_before + precision_after) / 2) / n_positives)


# --------------------------------------------------------------------------------------------------
# Input checks shared by the protocols
# --------------------------------------------------------------------------------------------------

def _as_rank_matrix(ranks, n_queries: int) -> np.ndarray:
    """Check that ``ranks`` is a full ranking of the database for each of ``n_queries`` queries."""
    ranks = np.asarray(ranks)
    if ranks.ndim != 2:
        raise EvaluationInputError(
            f"ranks must be 2-D (n_database, n_queries), got shape {ranks.shape}")
    if not np.issubdtype(ranks.dtype, np.integer):
        raise EvaluationInputError(f"ranks must hold integer database ids, got dtype {ranks.dtype}")
    n_database, n_columns = ranks.shape
    if n_columns != n_queries:
        hint = (" (transposed? ranks must be (n_database, n_queries))"
                if n_database == n_queries else "")
        raise EvaluationInputError(
            f"ranks has {n_columns} columns but gnd has {n_queries} queries{hint}")
    if n_database == 0:
        raise EvaluationInputError("ranks has no rows: the database is empty")
    bad_query = np.flatnonzero((ranks < 0).any(axis=0) | (ranks >= n_database).any(axis=0))
    if bad_query.size:
        q = int(bad_query[0])
        bad_id = int(ranks[(ranks[:, q] < 0) | (ranks[:, q] >= n_database), q][0])
        raise EvaluationInputError(
            f"ranks[:, {q}] holds id {bad_id}, outside 0..{n_database - 1}: each column must rank "
            f"all {n_database} database images (a full ranking, not a top-k prefix)")
    # A column of in-range ids is a full ranking exactly when, sorted, it reads 0, 1, ..., n-1.
    not_permutation = np.flatnonzero(
        (np.sort(ranks, axis=0) != np.arange(n_database)[:, None]).any(axis=0))
    if not_permutation.size:
        q = int(not_permutation[0])
        values, counts = np.unique(ranks[:, q], return_counts=True)
        raise EvaluationInputError(
            f"ranks[:, {q}] lists id {int(values[counts > 1][0])} more than once: each column must "
            f"rank every database image exactly once")
    return ranks


def _as_ids(ids, name: str, n_database: int) -> np.ndarray:
    """``ids`` as an int array, checked against the database size; ``name`` says where they came from."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise EvaluationInputError(
            f"{name} must be a flat list of integer database ids, got {ids.dtype} of shape {ids.shape}")
    outside = (ids < 0) | (ids >= n_database)
    if outside.any():
        raise EvaluationInputError(
            f"{name} holds id {int(ids[outside][0])}, outside 0..{n_database - 1} "
            f"(n_database = {n_database}, the number of rows of ranks)")
    return ids.astype(np.int64)


def _check_kappas(kappas) -> tuple[int, ...]:
    kappas = tuple(kappas)
    if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in kappas):
        raise EvaluationInputError(f"kappas must be positive integers, got {kappas}")
    return tuple(int(k) for k in kappas)


# --------------------------------------------------------------------------------------------------
# mAP and mP@k over many queries (revisited Oxford/Paris)
# --------------------------------------------------------------------------------------------------

def compute_map(ranks, gnd: Sequence[Mapping], kappas=(1, 5, 10)):
    r"""Mean average precision and mean precision at ``kappas``, revisited Oxford/Paris protocol.

    Parameters
    ----------
    ranks : int array (n_database, n_queries)
        Column ``q`` is a full ranking of the database for query ``q`` (every id exactly once).
    gnd : list of dicts, one per query
        ``"ok"``: ids of the positives; ``"junk"`` (optional): ids to ignore. Both must be disjoint.
    kappas : the cut-offs :math:`k` of mP@k.

    Returns
    -------
    mAP : float
        Mean of the per-query AP (see :func:`compute_ap`) over the queries that have positives.
    per_query_ap : (n_queries,) array
        NaN for a query without positives: its AP is undefined, and it is left out of both means
        (this happens in the Hard split when a query has no hard positives).
    mean_precision : (len(kappas),) array
        mP@k over the queries that have positives.
    per_query_precision : (n_queries, len(kappas)) array
        NaN rows for queries without positives.

    If no query has any positive, both means are NaN.

    How each query is scored
    ------------------------
    1. Junk images are deleted from the ranked list, so the positions of the positives close up
       (a positive at position 5 with two junk images above it counts as position 3).
    2. AP by the trapezoid rule over the positives' positions.
    3. Precision at :math:`k` with :math:`k` clipped to the last positive: with 1-based positions
       :math:`p_0 < \dots < p_{n-1}`, :math:`k' = \min(k, p_{n-1})` and
       :math:`\mathrm{P@}k = |\{i : p_i \le k'\}| / k'`. A query with only 2 positives ranked 1st and
       2nd then scores P@10 = 1 instead of 0.2: precision is not capped by how few positives exist.
    """
    kappas = _check_kappas(kappas)
    if isinstance(gnd, Mapping) or not isinstance(gnd, Sequence):
        raise EvaluationInputError("gnd must be a list with one dict per query")
    ranks = _as_rank_matrix(ranks, len(gnd))
    n_database, n_queries = ranks.shape

    # position_of[id, q] = where database image `id` appears in the ranking of query q
    position_of = np.empty_like(ranks)
    np.put_along_axis(position_of, ranks, np.arange(n_database)[:, None], axis=0)

    per_query_ap = np.full(n_queries, np.nan)
    per_query_precision = np.full((n_queries, len(kappas)), np.nan)
    for q, query_gnd in enumerate(gnd):
        if not isinstance(query_gnd, Mapping) or "ok" not in query_gnd:
            raise EvaluationInputError(f"gnd[{q}] must be a dict with an 'ok' list of positive ids")
        ok = _as_ids(query_gnd["ok"], f"gnd[{q}]['ok']", n_database)
        junk = np.unique(_as_ids(query_gnd.get("junk", []), f"gnd[{q}]['junk']", n_database))
        if np.unique(ok).size != ok.size:
            raise EvaluationInputError(f"gnd[{q}]['ok'] lists the same id more than once")
        both = np.intersect1d(ok, junk)
        if both.size:
            raise EvaluationInputError(f"gnd[{q}]: id {int(both[0])} is in both 'ok' and 'junk'")
        if ok.size == 0:
            continue

        positive_positions = np.sort(position_of[ok, q])
        junk_positions = np.sort(position_of[junk, q])
        # Each positive moves up by the number of junk images ranked above it.
        positive_positions = positive_positions - np.searchsorted(junk_positions, positive_positions)

        per_query_ap[q] = compute_ap(positive_positions, ok.size)

        one_based = positive_positions + 1
        for i, k in enumerate(kappas):
            clipped_k = min(k, int(one_based[-1]))
            per_query_precision[q, i] = np.count_nonzero(one_based <= clipped_k) / clipped_k

    scored = ~np.isnan(per_query_ap)
    if scored.any():
        mean_ap = float(per_query_ap[scored].mean())
        mean_precision = per_query_precision[scored].mean(axis=0)
    else:
        mean_ap = float("nan")
        mean_precision = np.full(len(kappas), np.nan)
    return mean_ap, per_query_ap, mean_precision, per_query_precision


# --------------------------------------------------------------------------------------------------
# Easy / Medium / Hard (revisited Oxford/Paris)
# --------------------------------------------------------------------------------------------------

def revisited_split(gnd: Sequence[Mapping], level: str) -> list[dict]:
    """Turn per-query ``{"easy", "hard", "junk"}`` ground truth into ``{"ok", "junk"}`` for one level.

    The revisited protocol (Radenovic et al., CVPR 2018) scores three setups:

    ========  ===================  ======================
    level     ok (positives)       junk (ignored)
    ========  ===================  ======================
    easy      easy                 junk + hard
    medium    easy + hard          junk
    hard      hard                 junk + easy
    ========  ===================  ======================

    Easy images that are ignored in Hard are not negatives: finding them first is neither rewarded
    nor punished. Other keys of each dict (e.g. the query box ``"bbx"``) are dropped.
    """
    if level not in LEVELS:
        raise EvaluationInputError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    split = []
    for q, query_gnd in enumerate(gnd):
        if not isinstance(query_gnd, Mapping) or "easy" not in query_gnd or "hard" not in query_gnd:
            raise EvaluationInputError(
                f"gnd[{q}] must be a dict with 'easy' and 'hard' lists (and optional 'junk'); "
                f"for {{'ok', 'junk'}} ground truth call compute_map directly")
        easy, hard, junk = ([int(i) for i in query_gnd.get(key, [])] for key in ("easy", "hard", "junk"))
        if level == "easy":
            split.append({"ok": easy, "junk": junk + hard})
        elif level == "medium":
            split.append({"ok": easy + hard, "junk": junk})
        else:
            split.append({"ok": hard, "junk": junk + easy})
    return split


# --------------------------------------------------------------------------------------------------
# Queries that are database images (INRIA Holidays, UKBench)
# --------------------------------------------------------------------------------------------------

def with_query_as_junk(gnd: Sequence[Mapping], query_ids) -> list[dict]:
    """Copy of ``gnd`` where each query's own database id is added to its junk.

    Use it when the queries are themselves database images (INRIA Holidays, Jegou et al., ECCV 2008): the
    query would otherwise be its own best match. Removing it as junk (the results below it move up one
    place) is exactly what the official script ``holidays_map.py`` does; its AP, ``score_ap_from_ranks_1``,
    is the trapezoid rule of :func:`compute_ap`.
    """
    query_ids = np.asarray(query_ids)
    if query_ids.shape != (len(gnd),):
        raise EvaluationInputError(
            f"query_ids must hold one database id per query ({len(gnd)}), got shape {query_ids.shape}")
    if query_ids.size and not np.issubdtype(query_ids.dtype, np.integer):
        raise EvaluationInputError(f"query_ids must be integer database ids, got dtype {query_ids.dtype}")
    augmented = []
    for q, (query_gnd, query_id) in enumerate(zip(gnd, query_ids)):
        if not isinstance(query_gnd, Mapping) or "ok" not in query_gnd:
            raise EvaluationInputError(f"gnd[{q}] must be a dict with an 'ok' list of positive ids")
        if int(query_id) in {int(i) for i in query_gnd["ok"]}:
            raise EvaluationInputError(
                f"gnd[{q}]['ok'] contains the query itself (id {int(query_id)}); list only the other images")
        junk = [int(i) for i in query_gnd.get("junk", [])]
        augmented.append({"ok": list(query_gnd["ok"]), "junk": junk + [int(query_id)]})
    return augmented


# --------------------------------------------------------------------------------------------------
# A dataset's scores: its levels, queries junk for themselves where they are database images
# --------------------------------------------------------------------------------------------------

def level_ground_truth(gnd_easy_hard_junk: Sequence[Mapping], level: str, query_ids=None) -> list[dict]:
    """``{"ok", "junk"}`` per query at one level (:func:`revisited_split`); with ``query_ids`` (queries that
    are database images: Holidays, UKBench) each query is also junk for itself (:func:`with_query_as_junk`)."""
    split = revisited_split(gnd_easy_hard_junk, level)
    return split if query_ids is None else with_query_as_junk(split, query_ids)


def evaluate_revisited(ranks, gnd_easy_hard_junk: Sequence[Mapping], kappas=(1, 5, 10), levels=LEVELS,
                       query_ids=None) -> dict:
    """Score ``ranks`` at ``levels`` of the revisited protocol (ground truth of any dataset in its
    ``{"easy", "hard", "junk"}`` form; one level of positives is ``("medium",)``), each query junk for
    itself where ``query_ids`` says it is a database image (:func:`level_ground_truth`).

    Returns ``{level: r}`` where each ``r`` is
    ``{"map": float, "mp": {k: float}, "per_query_ap": (n_queries,) array}``.
    """
    results = {}
    for level in levels:
        mean_ap, per_query_ap, mean_precision, _ = compute_map(
            ranks, level_ground_truth(gnd_easy_hard_junk, level, query_ids), kappas)
        results[level] = {
            "map": mean_ap,
            "mp": {int(k): float(p) for k, p in zip(kappas, mean_precision)},
            "per_query_ap": per_query_ap,
        }
    return results


# --------------------------------------------------------------------------------------------------
# UKBench
# --------------------------------------------------------------------------------------------------

def ukbench_score(ranks, group_size: int = 4) -> float:
    """UKBench N-S score (Nister & Stewenius, CVPR 2006): mean number of correct images in the top 4.

    Every image is a query: column ``q`` of ``ranks`` ranks the collection for image ``q``, best first.
    The collection comes in consecutive groups of ``group_size`` (4) views of one object (ids 0-3,
    4-7, ...). A query scores how many of its top ``group_size`` results belong to its own group,
    itself included, so the score runs from 0 to 4 (4 is perfect). Only the first ``group_size`` rows
    of ``ranks`` are read, so ``ranks`` may be a top-k prefix of shape (k >= group_size, n_images).
    """
    ranks = np.asarray(ranks)
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 1:
        raise EvaluationInputError(f"group_size must be a positive integer, got {group_size!r}")
    if ranks.ndim != 2:
        raise EvaluationInputError(f"ranks must be 2-D (n_top, n_images), got shape {ranks.shape}")
    if not np.issubdtype(ranks.dtype, np.integer):
        raise EvaluationInputError(f"ranks must hold integer image ids, got dtype {ranks.dtype}")
    n_top, n_images = ranks.shape
    if n_images == 0 or n_images % group_size:
        raise EvaluationInputError(
            f"ranks has {n_images} columns (one per image), not a positive multiple of group_size={group_size}")
    if n_top < group_size:
        raise EvaluationInputError(f"ranks has {n_top} rows; the score needs the top {group_size}")
    top = ranks[:group_size]
    if top.min() < 0 or top.max() >= n_images:
        raise EvaluationInputError(f"ranks holds ids outside 0..{n_images - 1} in its top {group_size} rows")
    sorted_top = np.sort(top, axis=0)
    repeated = np.flatnonzero((sorted_top[1:] == sorted_top[:-1]).any(axis=0))
    if repeated.size:
        raise EvaluationInputError(f"ranks[:, {int(repeated[0])}] lists an image twice in its top {group_size}")

    query_group = np.arange(n_images) // group_size
    correct_per_query = np.count_nonzero(top // group_size == query_group[None, :], axis=0)
    return float(correct_per_query.mean())


# --------------------------------------------------------------------------------------------------
# How sure a difference is: bootstrap over queries
# --------------------------------------------------------------------------------------------------

def bootstrap_ci(per_query_ap, confidence: float = 0.95, n_resamples: int = 10000, seed: int = 0
                 ) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-query APs and its percentile bootstrap interval.

    Queries are resampled with replacement `n_resamples` times; the interval holds the central
    `confidence` share of the resampled means. With a few dozen queries an mAP is uncertain by
    several points, which is what this interval shows.
    """
    values = np.asarray(per_query_ap, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise EvaluationInputError(f"per_query_ap must be a non-empty 1-D array of finite numbers, "
                                   f"got shape {values.shape}")
    if not 0 < confidence < 1:
        raise EvaluationInputError(f"confidence must be between 0 and 1, got {confidence}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def paired_difference(per_query_a, per_query_b, confidence: float = 0.95, n_resamples: int = 10000,
                      seed: int = 0) -> dict:
    """Is method A better than B on the same queries? The mean per-query AP difference A - B with
    its bootstrap interval (queries resampled in pairs), and how many queries each side wins.

    "real" is True when the interval excludes 0: the difference is larger than the spread over
    queries explains.
    """
    a, b = np.asarray(per_query_a, dtype=np.float64), np.asarray(per_query_b, dtype=np.float64)
    if a.shape != b.shape:
        raise EvaluationInputError(f"per-query APs of both methods must cover the same queries, "
                                   f"got shapes {a.shape} and {b.shape}")
    mean, low, high = bootstrap_ci(a - b, confidence, n_resamples, seed)
    return {"difference": mean, "low": low, "high": high, "wins": int((a > b).sum()),
            "losses": int((a < b).sum()), "ties": int((a == b).sum()), "real": bool(low > 0 or high < 0)}
