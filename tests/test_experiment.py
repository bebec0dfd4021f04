"""score_ranking picks the protocol of the dataset: revisited E/M/H, Holidays self-exclusion, UKBench."""
from pathlib import Path

import numpy as np
import pytest

from course_lib import evaluation
from course_lib.datasets import RetrievalDataset
from course_lib.experiment import results_table, score_ranking


def _dataset(protocol, gnd, n_db, query_ids=None):
    paths = [Path(f"{i}.jpg") for i in range(n_db)]
    queries = [paths[q] for q in query_ids] if query_ids is not None else paths[: len(gnd)]
    return RetrievalDataset(name="t", root=Path("."), images=paths, queries=queries, bboxes=[None] * len(gnd),
                            gnd=gnd, protocol=protocol, query_ids=query_ids)


def test_holidays_excludes_the_query_itself():
    # 6 images, groups {0,1,2} and {3,4,5}; queries are images 0 and 3.
    gnd = [{"easy": [1, 2], "hard": [], "junk": []}, {"easy": [4, 5], "hard": [], "junk": []}]
    ranks = np.array([[0, 1, 3, 2, 4, 5], [3, 0, 4, 5, 1, 2]]).T
    ds = _dataset("holidays", gnd, 6, query_ids=[0, 3])
    got = score_ranking(ds, ranks)
    # Trapezoid AP: each positive adds (precision just before it + precision at it) / 2 / n_positives.
    # Query 0 without itself: 1, 3, 2, ... -> positives at positions 1 and 3: (1 + 1)/4 + (1/2 + 2/3)/4 = 19/24.
    # Query 1 without itself: 0, 4, 5, ... -> positives at positions 2 and 3: (0 + 1/2)/4 + (1/2 + 2/3)/4 = 5/12.
    assert got["per_query_ap"] == pytest.approx([19 / 24, 5 / 12])
    assert got["map"] == pytest.approx((19 / 24 + 5 / 12) / 2)


@pytest.mark.parametrize("protocol, query_ids", [("revisited", None), ("holidays", list(range(0, 30, 3)))])
def test_score_ranking_is_the_evaluation_protocol(protocol, query_ids):
    """experiment scores through evaluation.evaluate_revisited, never a second implementation."""
    rng = np.random.default_rng(1)
    n_db, n_q = 30, 10
    candidates = [i for i in range(28) if i not in (query_ids or [])]  # 28 and 29 are only ever junk
    gnd = []
    for _ in range(n_q):
        picked = [int(i) for i in rng.choice(candidates, 3, replace=False)]
        gnd.append({"easy": picked[:2], "hard": picked[2:], "junk": [28 + int(rng.integers(2))]})
    ranks = np.argsort(rng.normal(size=(n_db, n_q)), axis=0)
    got = score_ranking(_dataset(protocol, gnd, n_db, query_ids=query_ids), ranks)
    levels = evaluation.LEVELS if protocol == "revisited" else ("medium",)
    expected = evaluation.evaluate_revisited(ranks, gnd, (1, 5, 10), levels, query_ids)
    assert got["per_query_ap"] == expected["medium"]["per_query_ap"].tolist()
    assert got["map"] == expected["medium"]["map"] and [got[f"mp@{k}"] for k in (1, 5, 10)] == \
        list(expected["medium"]["mp"].values())
    if protocol == "revisited":
        assert [got[f"map_{level}"] for level in levels] == [expected[level]["map"] for level in levels]


def test_revisited_reports_three_levels_and_medium_as_map():
    gnd = [{"easy": [0], "hard": [2], "junk": [1]}]
    ranks = np.array([[2, 1, 0, 3]]).T
    got = score_ranking(_dataset("revisited", gnd, 4), ranks)
    assert got["map_easy"] == pytest.approx(1.0)      # hard 2 and junk 1 ignored: easy 0 comes first
    assert got["map_hard"] == pytest.approx(1.0)      # easy 0 and junk 1 ignored: hard 2 comes first
    assert got["map_medium"] == got["map"] == pytest.approx(1.0)  # 2 then 0, junk removed
    table = results_table([{"method": "gem", **got}])
    assert list(table.columns) == ["map_easy", "map_medium", "map_hard", "mp@1", "mp@5", "mp@10"]
    assert table.loc["gem", "map_hard"] == 100.0


def test_ukbench_score_is_reported():
    gnd = [{"easy": [j for j in range(4) if j != i], "hard": [], "junk": []} for i in range(4)] + \
          [{"easy": [j for j in range(4, 8) if j != i], "hard": [], "junk": []} for i in range(4, 8)]
    ranks = np.array([[i] + [j for j in range(8) if j != i] for i in range(8)]).T
    got = score_ranking(_dataset("ukbench", gnd, 8, query_ids=list(range(8))), ranks)
    # Query i's top 4: itself then 0..3 in order: group members among them, e.g. query 0: 0,1,2,3 -> 4.
    assert got["ukbench_score"] == pytest.approx(evaluation.ukbench_score(ranks))
    assert 0 < got["ukbench_score"] <= 4


def test_interval_table_and_paired_table_bracket_the_scores():
    from types import SimpleNamespace

    import pandas as pd

    from course_lib.experiment import evaluate_descriptors, interval_table, paired_table, rows_interval_table

    rng = np.random.default_rng(0)
    n_db, n_q = 40, 12
    gnd = [{"easy": [int(q), int(q) + 12], "hard": [int(q) + 24], "junk": []} for q in range(n_q)]
    ds = _dataset("revisited", gnd, n_db)
    db = rng.normal(size=(n_db, 8)).astype("float32")
    good = db[:n_q] + 0.1 * rng.normal(size=(n_q, 8)).astype("float32")
    noisy = db[:n_q] + 2.0 * rng.normal(size=(n_q, 8)).astype("float32")
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    desc = SimpleNamespace(methods=["good", "noisy"], db={"good": unit(db), "noisy": unit(db)},
                           queries={"good": unit(good), "noisy": unit(noisy)})
    table = interval_table(ds, desc)
    rows = {r["method"]: r for r in evaluate_descriptors(ds, desc)}
    medium = rows_interval_table(list(rows.values())).rename(columns=lambda c: f"map_medium{c[3:]}")
    pd.testing.assert_frame_equal(table[["map_medium", "map_medium_low", "map_medium_high"]], medium)
    for method in ("good", "noisy"):
        assert table.loc[method, "map_medium"] == pytest.approx(100 * rows[method]["map_medium"], abs=0.06)
        for level in ("easy", "medium", "hard"):
            assert table.loc[method, f"map_{level}_low"] <= table.loc[method, f"map_{level}"] <= \
                table.loc[method, f"map_{level}_high"]
    paired = paired_table(list(rows.values()), [("good", "noisy")])
    line = paired.loc["good - noisy"]
    assert line["low"] <= line["difference"] <= line["high"] and line["A wins"] + line["B wins"] <= n_q
    assert bool(line["real"]) == (line["low"] > 0 or line["high"] < 0)
