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


# --------------------------------------------------------------------------- the experiment log

def _folder_dataset(root: Path, name: str = "d") -> RetrievalDataset:
    """Three real image files in a folder, one query: enough for a data fingerprint."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(3):
        path = root / f"{i}.jpg"
        path.write_bytes(bytes([i]) * 10)
        paths.append(path.resolve())
    return RetrievalDataset(name=name, root=root.resolve(), images=paths, queries=paths[:1], bboxes=[None],
                            gnd=[{"easy": [1], "hard": [], "junk": []}], protocol="custom")


def test_kit_provenance_reads_the_checkout_without_git(monkeypatch):
    import subprocess

    from course_lib import __version__
    from course_lib.experiment import kit_provenance

    def no_git(*args, **kwargs):
        raise AssertionError("the commit is read from .git, not by running git")

    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.setattr(subprocess, "Popen", no_git)
    kit = kit_provenance()
    assert kit["version"] == __version__
    repository = Path(__file__).resolve().parents[1]
    if (repository / ".git").exists():  # the tests run from a checkout: its HEAD commit
        assert len(kit["commit"]) == 40 and int(kit["commit"], 16) >= 0
    else:
        assert kit["commit"] == "unknown"


def test_kit_commit_from_a_branch_a_packed_ref_a_detached_head_or_nothing(tmp_path):
    from course_lib.experiment import checkout_commit

    sha = "0123456789abcdef0123456789abcdef01234567"
    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(sha + "\n")
    assert checkout_commit(tmp_path / "repo") == sha
    (git / "refs" / "heads" / "main").unlink()
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{sha} refs/heads/main\n")
    assert checkout_commit(tmp_path / "repo") == sha
    (git / "HEAD").write_text(sha + "\n")  # detached
    assert checkout_commit(tmp_path / "repo") == sha
    (git / "HEAD").write_text("ref: refs/heads/gone\n")
    assert checkout_commit(tmp_path / "repo") is None
    assert checkout_commit(tmp_path / "elsewhere") is None


def test_data_fingerprint_follows_contents_and_ground_truth_not_the_folder(tmp_path):
    from course_lib.experiment import data_fingerprint

    here, there = _folder_dataset(tmp_path / "a"), _folder_dataset(tmp_path / "b")
    assert data_fingerprint(here) == data_fingerprint(there)  # the same data in another folder or clone
    (tmp_path / "b" / "2.jpg").write_bytes(b"edited")
    assert data_fingerprint(there) != data_fingerprint(here)
    moved_gt = RetrievalDataset(**{**vars(here), "gnd": [{"easy": [2], "hard": [], "junk": []}]})
    assert data_fingerprint(moved_gt) != data_fingerprint(here)


def test_a_log_record_says_how_to_reproduce_the_run_and_reads_back_as_a_table(tmp_path):
    from course_lib.experiment import append_log, log_table, read_log, run_record

    dataset = _folder_dataset(tmp_path / "data")
    log = tmp_path / "runs.jsonl"
    for method, ap, note in (("gem", 0.5, "baseline"), ("mac", 0.25, "")):
        rows = [{"method": method, "map": ap, "per_query_ap": [ap]}]
        append_log(log, run_record(dataset, rows, {"backbone": "resnet50", "max_side": 256}, seed=7, note=note,
                                   command="python -m course_lib evaluate data"))
    runs = read_log(log)
    assert [r["note"] for r in runs] == ["baseline", ""]
    first = runs[0]
    assert first["kit"]["version"] and first["kit"]["commit"]
    assert first["command"] == "python -m course_lib evaluate data" and first["seed"] == 7
    assert first["data"] == {"fingerprint": run_record(dataset, [], {})["data"]["fingerprint"], "images": 3,
                             "queries": 1}
    assert first["dataset"] == "d" and first["backbone"] == "resnet50" and first["max_side"] == 256
    table = log_table(runs)
    assert list(table.run) == [1, 2] and list(table.method) == ["gem", "mac"]
    assert list(table["mAP %"]) == [50.0, 25.0] and list(table.note) == ["baseline", ""]


def test_a_damaged_log_line_is_named(tmp_path):
    from course_lib.experiment import read_log

    log = tmp_path / "runs.jsonl"
    log.write_text('{"results": []}\n\n{"results": [\n')
    with pytest.raises(ValueError, match=r"runs.jsonl:3: not a JSON record"):
        read_log(log)
