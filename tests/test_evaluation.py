"""Tests of course_lib.evaluation: hand-worked values of the retrieval protocols and their input checks."""

from __future__ import annotations

import ast
import inspect
from fractions import Fraction as F

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from course_lib import evaluation
from course_lib.evaluation import (
    EvaluationInputError,
    compute_ap,
    compute_map,
    evaluate_revisited,
    revisited_split,
    ukbench_score,
    with_query_as_junk,
)


def columns(*rankings):
    """Stack per-query rankings into the (n_database, n_queries) layout."""
    return np.array(rankings, dtype=np.int64).T


def reference_ap_by_walking(ranking, ok, junk=()):
    """AP computed the slow, obvious way: walk down the list, skip junk, add one trapezoid per positive."""
    ok, junk = set(ok), set(junk)
    seen = found = 0
    area = 0.0
    for image in ranking:
        if image in junk:
            continue
        precision_before = found / seen if seen else 1.0
        seen += 1
        if image in ok:
            found += 1
            area += (precision_before + found / seen) / 2 / len(ok)
    return area


# ---------------------------------------------------------------- compute_ap, values worked by hand

@pytest.mark.parametrize(
    "positions, n_positives, expected",
    [
        # Positives at 0 and 2, n = 2:
        #   j=0, r=0: precision before := 1, after = 1/1       -> trapezoid (1 + 1)/2     = 1
        #   j=1, r=2: precision before = 1/2, after = 2/3      -> trapezoid (1/2 + 2/3)/2 = 7/12
        #   AP = (1 + 7/12) / 2 = 19/24
        ([0, 2], 2, F(19, 24)),
        # Perfect ranking: every trapezoid is (1 + 1)/2 -> AP = 1.
        ([0, 1, 2], 3, F(1)),
        # One positive at position 1: before = 0/1, after = 1/2 -> (0 + 1/2)/2 = 1/4.
        ([1], 1, F(1, 4)),
        # Positives at 1 and 3: (0 + 1/2)/2 = 1/4 and (1/3 + 2/4)/2 = 5/12 -> (1/4 + 5/12)/2 = 1/3.
        ([1, 3], 2, F(1, 3)),
        # Two positives, only one retrieved (at the top): the missing one adds nothing -> 1/2.
        ([0], 2, F(1, 2)),
        # Nothing retrieved at all -> 0.
        ([], 3, F(0)),
    ],
)
def test_compute_ap_hand_values(positions, n_positives, expected):
    assert compute_ap(np.array(positions, dtype=np.int64), n_positives) == pytest.approx(float(expected))


def test_compute_ap_matches_walking_down_the_list():
    rng = np.random.default_rng(0)
    for _ in range(50):
        ranking = rng.permutation(30)
        ok = rng.choice(30, size=rng.integers(1, 8), replace=False)
        positions = np.sort(np.flatnonzero(np.isin(ranking, ok)))
        assert compute_ap(positions, ok.size) == pytest.approx(reference_ap_by_walking(ranking, ok))


@pytest.mark.parametrize(
    "positions, n_positives, message",
    [
        ([2, 0], 2, "strictly increasing"),
        ([0, 0], 2, "strictly increasing"),
        ([-1, 3], 2, "non-negative"),
        ([0, 1, 2], 2, "n_positives is only 2"),
        ([0], 0, "at least 1"),
        ([[0, 1]], 2, "1-D"),
        ([0.0, 1.5], 2, "integer"),
    ],
)
def test_compute_ap_rejects_bad_input(positions, n_positives, message):
    with pytest.raises(EvaluationInputError, match=message):
        compute_ap(positions, n_positives)


# ---------------------------------------------------------------- compute_map

def test_compute_map_junk_removal_k_clipping_and_empty_queries():
    ranks = columns(
        # Query 0: ok = {0, 2}, junk = {5}. The list without junk is 3, 0, 1, 4, 2, so the positives
        # sit at positions 1 and 4 (0-based), not 2 and 5:
        #   AP = [(0 + 1/2)/2 + (1/4 + 2/5)/2] / 2 = (1/4 + 13/40)/2 = 23/80
        #   1-based positions 2 and 5, last positive at 5:
        #   P@1 = 0/1, P@5 = 2/5, P@10 -> k clipped to 5 -> 2/5
        [3, 5, 0, 1, 4, 2],
        # Query 1: ok = {1, 0} at the top, no junk: AP = 1; P@1 = 1,
        #   P@5 -> k clipped to the last positive (2) -> 2/2 = 1, likewise P@10 = 1.
        [0, 1, 2, 3, 4, 5],
        # Query 2: no positives: AP NaN, left out of every mean.
        [5, 4, 3, 2, 1, 0],
    )
    gnd = [{"ok": [0, 2], "junk": [5]}, {"ok": [1, 0]}, {"ok": [], "junk": [3]}]

    mean_ap, per_query_ap, mean_precision, per_query_precision = compute_map(ranks, gnd, kappas=(1, 5, 10))

    np.testing.assert_allclose(per_query_ap[:2], [23 / 80, 1.0])
    assert np.isnan(per_query_ap[2])
    assert mean_ap == pytest.approx((23 / 80 + 1.0) / 2)  # = 103/160, not divided by 3
    np.testing.assert_allclose(per_query_precision[:2], [[0, 2 / 5, 2 / 5], [1, 1, 1]])
    assert np.isnan(per_query_precision[2]).all()
    np.testing.assert_allclose(mean_precision, [0.5, 0.7, 0.7])
    assert per_query_ap.shape == (3,) and per_query_precision.shape == (3, 3)


def test_junk_changes_the_score_exactly_as_if_it_were_not_in_the_list():
    ranking = [3, 5, 0, 1, 4, 2]
    with_junk = compute_map(columns(ranking), [{"ok": [0, 2], "junk": [5]}])[0]
    junk_deleted = compute_map(columns([3, 0, 1, 4, 2]), [{"ok": [0, 2]}])[0]  # ids 0..4, 5 removed
    # Without declaring 5 as junk it is a negative: positives at 2 and 5:
    #   [(0 + 1/3)/2 + (1/5 + 2/6)/2] / 2 = (1/6 + 4/15)/2 = 13/60
    junk_as_negative = compute_map(columns(ranking), [{"ok": [0, 2]}])[0]
    assert with_junk == pytest.approx(junk_deleted) == pytest.approx(23 / 80)
    assert junk_as_negative == pytest.approx(13 / 60)


def test_precision_at_k_is_clipped_only_when_the_last_positive_is_above_k():
    ranking = list(range(12))
    # Positives at 1-based positions 1 and 3: P@1 = 1; P@5 and P@10 clip k to 3 -> 2/3
    # (unclipped they would be 2/5 and 2/10).
    _, _, _, precision = compute_map(columns(ranking), [{"ok": [0, 2]}], kappas=(1, 5, 10))
    np.testing.assert_allclose(precision[0], [1, 2 / 3, 2 / 3])
    # Positives at 1-based positions 1 and 12: no clipping below 12 -> P@5 = 1/5, P@10 = 1/10.
    _, _, _, precision = compute_map(columns(ranking), [{"ok": [0, 11]}], kappas=(1, 5, 10))
    np.testing.assert_allclose(precision[0], [1, 1 / 5, 1 / 10])


def test_compute_map_agrees_with_walking_down_the_list_on_random_data():
    rng = np.random.default_rng(1)
    n_database, n_queries = 40, 25
    ranks = np.stack([rng.permutation(n_database) for _ in range(n_queries)], axis=1)
    gnd = []
    for _ in range(n_queries):
        chosen = rng.choice(n_database, size=rng.integers(1, 12), replace=False)
        n_ok = rng.integers(1, chosen.size + 1)
        gnd.append({"ok": chosen[:n_ok], "junk": chosen[n_ok:]})
    mean_ap, per_query_ap, _, _ = compute_map(ranks, gnd)
    expected = [reference_ap_by_walking(ranks[:, q], g["ok"], g["junk"]) for q, g in enumerate(gnd)]
    np.testing.assert_allclose(per_query_ap, expected)
    assert mean_ap == pytest.approx(np.mean(expected))


def test_compute_map_without_any_positive_gives_nan_means():
    mean_ap, per_query_ap, mean_precision, _ = compute_map(columns([0, 1], [1, 0]), [{"ok": []}, {"ok": []}])
    assert np.isnan(mean_ap) and np.isnan(per_query_ap).all() and np.isnan(mean_precision).all()


def test_compute_map_with_no_kappas():
    _, _, mean_precision, per_query_precision = compute_map(columns([0, 1]), [{"ok": [1]}], kappas=())
    assert mean_precision.shape == (0,) and per_query_precision.shape == (1, 0)


@pytest.mark.parametrize(
    "ranks, gnd, message",
    [
        (np.arange(3), [{"ok": [0]}], r"2-D \(n_database, n_queries\)"),
        (np.array([[0.0], [1.0]]), [{"ok": [0]}], "integer database ids"),
        (columns([0, 1, 2], [2, 1, 0]), [{"ok": [0]}], "2 columns but gnd has 1 queries"),
        (columns([0, 1], [1, 0]), [{"ok": [0]}, {"ok": [0]}, {"ok": [0]}], "2 columns but gnd has 3"),
        (columns([0, 1, 7]), [{"ok": [0]}], r"ranks\[:, 0\] holds id 7, outside 0..2"),
        (columns([0, 1, 2], [0, 1, 1]), [{"ok": [0]}, {"ok": [0]}], r"ranks\[:, 1\] lists id 1 more than once"),
        (columns([0, 1, 2]), [{"ok": [3]}], r"gnd\[0\]\['ok'\] holds id 3, outside 0..2"),
        (columns([0, 1, 2]), [{"ok": [0], "junk": [-1]}], r"gnd\[0\]\['junk'\] holds id -1"),
        (columns([0, 1, 2]), [{"ok": [0, 0]}], r"gnd\[0\]\['ok'\] lists the same id more than once"),
        (columns([0, 1, 2]), [{"ok": [0, 1], "junk": [1]}], r"id 1 is in both 'ok' and 'junk'"),
        (columns([0, 1, 2]), [{"positives": [0]}], r"gnd\[0\] must be a dict with an 'ok' list"),
        (columns([0, 1, 2]), [{"ok": [0.5]}], "integer database ids"),
        (columns([0, 1, 2]), {"ok": [0]}, "one dict per query"),
    ],
)
def test_compute_map_rejects_bad_input_with_one_line(ranks, gnd, message):
    with pytest.raises(EvaluationInputError, match=message) as error:
        compute_map(ranks, gnd)
    assert "\n" not in str(error.value)
    assert isinstance(error.value, ValueError)


def test_transposed_ranks_get_a_hint():
    # 2 queries over a database of 3, passed as (n_queries, n_database) by mistake.
    ranks = columns([0, 1, 2], [2, 1, 0])
    with pytest.raises(EvaluationInputError, match="transposed"):
        compute_map(ranks.T, [{"ok": [0]}, {"ok": [1]}])


@pytest.mark.parametrize("kappas", [(0,), (1, -5), (1.5,), (True,)])
def test_compute_map_rejects_bad_kappas(kappas):
    with pytest.raises(EvaluationInputError, match="kappas"):
        compute_map(columns([0, 1]), [{"ok": [0]}], kappas=kappas)


# ---------------------------------------------------------------- Easy / Medium / Hard

# Database: 0 easy, 1 junk, 2 hard, 3 distractor (query 0); query 1 has one easy positive and no hard one.
REVISITED_GND = [
    {"easy": [0], "hard": [2], "junk": [1], "bbx": [0, 0, 10, 10]},
    {"easy": [1], "hard": [], "junk": []},
]
REVISITED_RANKS = columns([0, 3, 2, 1], [1, 0, 2, 3])


def test_revisited_split_follows_the_protocol_table():
    assert revisited_split(REVISITED_GND, "easy") == [{"ok": [0], "junk": [1, 2]}, {"ok": [1], "junk": []}]
    assert revisited_split(REVISITED_GND, "medium") == [{"ok": [0, 2], "junk": [1]}, {"ok": [1], "junk": []}]
    assert revisited_split(REVISITED_GND, "hard") == [{"ok": [2], "junk": [1, 0]}, {"ok": [], "junk": [1]}]


def test_evaluate_revisited_hand_values():
    results = evaluate_revisited(REVISITED_RANKS, REVISITED_GND, kappas=(1, 5))
    # Query 0, list 0, 3, 2, 1:
    #   easy:   ok {0}, junk {1, 2}: 0 is first                       -> AP 1, P@1 1, P@5 1
    #   medium: ok {0, 2}, junk {1} (below both): positives at 0 and 2 -> AP 19/24; P@1 1, P@5 (k->3) 2/3
    #   hard:   ok {2}, junk {1, 0}: 0 is removed, 2 moves to position 1 -> AP (0 + 1/2)/2 = 1/4;
    #           P@1 0, P@5 (k->2) 1/2
    # Query 1, list 1, 0, 2, 3: easy and medium AP 1; hard has no positive -> NaN, left out.
    assert results["easy"]["map"] == pytest.approx(1.0)
    assert results["medium"]["map"] == pytest.approx((19 / 24 + 1) / 2)
    assert results["hard"]["map"] == pytest.approx(1 / 4)
    assert results["medium"]["mp"] == pytest.approx({1: 1.0, 5: (2 / 3 + 1) / 2})
    assert results["hard"]["mp"] == pytest.approx({1: 0.0, 5: 0.5})
    np.testing.assert_allclose(results["hard"]["per_query_ap"], [0.25, np.nan])
    assert set(results) == {"easy", "medium", "hard"}
    assert set(results["easy"]) == {"map", "mp", "per_query_ap"}


def test_revisited_split_rejects_bad_level_and_wrong_ground_truth():
    with pytest.raises(EvaluationInputError, match="easy, medium, hard"):
        revisited_split(REVISITED_GND, "Medium")
    with pytest.raises(EvaluationInputError, match=r"gnd\[0\] must be a dict with 'easy' and 'hard'"):
        revisited_split([{"ok": [0], "junk": []}], "easy")


# ---------------------------------------------------------------- INRIA Holidays

def test_holidays_excludes_the_query_itself():
    # Two groups: query 0 with 1, 2; query 3 with 4. Every image is in the database.
    gnd = [{"ok": [1, 2]}, {"ok": [4]}]
    query_ids = [0, 3]
    ranks = columns(
        # Query 0 finds itself first; without it the list is 3, 1, 4, 2: positives at 1 and 3
        #   -> AP = [(0 + 1/2)/2 + (1/3 + 2/4)/2] / 2 = 1/3.
        [0, 3, 1, 4, 2],
        # Query 3 is ranked second, below its positive: removing it changes nothing -> AP = 1.
        [4, 3, 0, 1, 2],
    )
    assert compute_map(ranks, with_query_as_junk(gnd, query_ids))[0] == pytest.approx((1 / 3 + 1) / 2)
    # The same ground truth in a dataset's {"easy", "hard", "junk"} form, scored at its one level:
    as_dataset = [{"easy": g["ok"], "hard": [], "junk": []} for g in gnd]
    medium = evaluate_revisited(ranks, as_dataset, kappas=(), levels=("medium",), query_ids=query_ids)
    assert set(medium) == {"medium"} and medium["medium"]["map"] == pytest.approx((1 / 3 + 1) / 2)
    # Had the query stayed in the list as a negative, query 0's positives would sit at 2 and 4:
    #   [(0 + 1/3)/2 + (1/4 + 2/5)/2] / 2 = 59/240.
    _, per_query_ap, _, _ = compute_map(ranks, gnd)
    assert per_query_ap[0] == pytest.approx(59 / 240)
    _, per_query_ap, _, _ = compute_map(ranks, with_query_as_junk(gnd, query_ids))
    np.testing.assert_allclose(per_query_ap, [1 / 3, 1])


def test_holidays_rejects_bad_query_ids():
    ranks = columns([0, 1, 2])
    with pytest.raises(EvaluationInputError, match="one database id per query"):
        with_query_as_junk([{"ok": [1]}], [0, 2])
    with pytest.raises(EvaluationInputError, match="contains the query itself"):
        with_query_as_junk([{"ok": [0, 1]}], [0])
    with pytest.raises(EvaluationInputError, match=r"gnd\[0\]\['junk'\] holds id 9, outside 0..2"):
        compute_map(ranks, with_query_as_junk([{"ok": [1]}], [9]))


# ---------------------------------------------------------------- UKBench

def test_ukbench_score_hand_value():
    # 8 images, groups {0, 1, 2, 3} and {4, 5, 6, 7}; column q = top 4 for query image q.
    top4 = columns(
        [0, 1, 2, 3],  # 4 correct
        [1, 0, 4, 5],  # 2
        [4, 5, 6, 7],  # 0 (not even itself)
        [3, 2, 1, 7],  # 3
        [4, 5, 6, 7],  # 4
        [5, 4, 6, 7],  # 4
        [6, 0, 1, 2],  # 1
        [7, 6, 5, 3],  # 3
    )
    assert ukbench_score(top4) == pytest.approx(21 / 8)
    # Rows below the top 4 are ignored, so a longer ranking scores the same.
    longer = np.vstack([top4, np.tile(np.arange(8)[:, None], (1, 8))[:2]])
    assert ukbench_score(longer) == pytest.approx(21 / 8)


def test_ukbench_perfect_and_worst():
    n_images = 12
    perfect = np.stack([np.arange(q // 4 * 4, q // 4 * 4 + 4) for q in range(n_images)], axis=1)
    assert ukbench_score(perfect) == 4.0
    worst = np.stack([(np.arange(4) + (q // 4 + 1) * 4) % n_images for q in range(n_images)], axis=1)
    assert ukbench_score(worst) == 0.0
    pairs = np.stack([np.arange(q // 2 * 2, q // 2 * 2 + 2) for q in range(n_images)], axis=1)
    assert ukbench_score(pairs, group_size=2) == 2.0


@pytest.mark.parametrize(
    "ranks, message",
    [
        (np.zeros((4, 6), dtype=np.int64), "not a positive multiple of group_size=4"),
        (np.zeros((3, 8), dtype=np.int64), "the score needs the top 4"),
        (np.full((4, 4), 9), r"outside 0..3"),
        (np.zeros((4, 4), dtype=np.int64), r"ranks\[:, 0\] lists an image twice"),
        (np.zeros((4, 4)), "integer image ids"),
    ],
)
def test_ukbench_rejects_bad_input(ranks, message):
    with pytest.raises(EvaluationInputError, match=message):
        ukbench_score(ranks)


# ---------------------------------------------------------------- scikit-learn's AP is a different estimate

def test_sklearn_average_precision_is_stepwise_not_trapezoid():
    # Positives at positions 0 and 2 of 5 (scores decreasing down the list, no ties).
    y_true = np.array([1, 0, 1, 0, 0])
    y_score = -np.arange(5.0)
    # scikit-learn: AP = sum_n (R_n - R_{n-1}) P_n, the precision *after* each positive (a step function):
    #   1/2 * 1 + 1/2 * 2/3 = 5/6.
    # Protocol (trapezoid): each step averages the precision before and after the positive: 19/24.
    # Difference 5/6 - 19/24 = 1/24 = (1/(2n)) * sum_j (after_j - before_j) = 1/4 * (0 + (2/3 - 1/2)).
    sklearn_ap = average_precision_score(y_true, y_score)
    ours = compute_ap(np.flatnonzero(y_true), 2)
    assert sklearn_ap == pytest.approx(5 / 6)
    assert ours == pytest.approx(19 / 24)
    assert sklearn_ap - ours == pytest.approx(1 / 24)


def test_sklearn_difference_formula_bound_and_when_they_agree():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n_database = int(rng.integers(5, 60))
        n_positives = int(rng.integers(1, n_database))
        y_true = np.zeros(n_database, dtype=int)
        y_true[rng.choice(n_database, size=n_positives, replace=False)] = 1
        positions = np.flatnonzero(y_true)
        sklearn_ap = average_precision_score(y_true, -np.arange(n_database, dtype=float))
        ours = compute_ap(positions, n_positives)

        # The exact gap: half the mean rise in precision across each positive,
        #   (1/2n) sum_j [(j+1)/(r_j+1) - j/r_j]  with j/r_j := 1 at r_j = 0,
        # always >= 0, so scikit-learn never scores lower than the protocol.
        j = np.arange(n_positives)
        before = np.where(positions == 0, 1.0, j / np.maximum(positions, 1))
        after = (j + 1) / (positions + 1)
        assert sklearn_ap - ours == pytest.approx(np.sum(after - before) / (2 * n_positives))
        assert sklearn_ap >= ours - 1e-12
        # Each rise is (r_j - j) / (r_j (r_j + 1)) <= 1/(j + 1), so the gap is at most H_n / (2n):
        # it vanishes as the number of positives grows, where both converge to the area under the curve.
        harmonic = np.sum(1.0 / np.arange(1, n_positives + 1))
        assert sklearn_ap - ours <= harmonic / (2 * n_positives) + 1e-12

    # They agree exactly only when no negative is ranked above any positive (r_j = j for all j),
    # i.e. the positives fill the top of the list and both give 1.
    y_true = np.array([1, 1, 1, 0, 0, 0])
    assert average_precision_score(y_true, -np.arange(6.0)) == compute_ap(np.arange(3), 3) == 1.0


def test_sklearn_needs_junk_removed_by_hand():
    # scikit-learn has no junk: left in, junk image 5 counts as a negative; deleted first, the step-wise
    # AP of the list 3, 0, 1, 4, 2 is 1/2 * 1/2 + 1/2 * 2/5 = 9/20, still not the protocol's 23/80.
    ranking = np.array([3, 5, 0, 1, 4, 2])
    ok, junk = [0, 2], [5]
    kept = ranking[~np.isin(ranking, junk)]
    stepwise = average_precision_score(np.isin(kept, ok), -np.arange(kept.size, dtype=float))
    assert stepwise == pytest.approx(9 / 20)
    assert compute_map(ranking[:, None], [{"ok": ok, "junk": junk}])[0] == pytest.approx(23 / 80)


# ---------------------------------------------------------------- module hygiene

def test_evaluation_does_not_import_torch():
    tree = ast.parse(inspect.getsource(evaluation))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "torch" not in imported and "numpy" in imported


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_queries():
    from course_lib.evaluation import bootstrap_ci

    rng = np.random.default_rng(1)
    few, many = rng.uniform(size=20), rng.uniform(size=2000)
    mean, low, high = bootstrap_ci(few)
    assert low < mean < high and mean == pytest.approx(few.mean())
    _, low_many, high_many = bootstrap_ci(many)
    assert (high_many - low_many) < (high - low) / 5  # about 1/sqrt(100) as wide
    assert bootstrap_ci([0.5] * 7) == (0.5, 0.5, 0.5)
    with pytest.raises(EvaluationInputError, match="non-empty 1-D"):
        bootstrap_ci([])
    with pytest.raises(EvaluationInputError, match="finite"):
        bootstrap_ci([0.1, float("nan")])


def test_paired_difference_tells_a_consistent_gain_from_noise():
    from course_lib.evaluation import paired_difference

    rng = np.random.default_rng(2)
    base = rng.uniform(size=30)
    better = paired_difference(base + 0.05, base)
    assert better["real"] and better["wins"] == 30 and better["difference"] == pytest.approx(0.05)
    noisy = paired_difference(base + rng.normal(0, 0.2, size=30), base)
    assert noisy["low"] < 0 < noisy["high"] and not noisy["real"]
    with pytest.raises(EvaluationInputError, match="same queries"):
        paired_difference(base, base[:-1])
