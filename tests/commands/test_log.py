"""`log FILE`: a team's experiment log as a table of runs, and mAP over runs as a figure."""
from __future__ import annotations

import json

from course_lib.commands import main


def write_runs(path, runs):
    path.write_text("".join(json.dumps(run) + "\n" for run in runs))


def record(method, ap, note="", commit="0123456789abcdef0123456789abcdef01234567"):
    return {"date": "2027-03-02T10:00:00+00:00", "dataset": "data", "backbone": "resnet50", "max_side": 512,
            "kit": {"version": "0.1.0", "commit": commit}, "seed": None, "note": note,
            "command": "python -m course_lib evaluate data", "data": {"fingerprint": "ab" * 32},
            "results": [{"method": method, "map": ap, "per_query_ap": [ap]}]}


def test_log_prints_one_row_per_run_and_method(tmp_path, capsys):
    log = tmp_path / "experiments.jsonl"
    write_runs(log, [record("gem", 0.5, "first try"), record("mac", 0.375, commit="unknown")])
    assert main(["log", str(log)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "mAP %" in lines[0] and "note" in lines[0]
    assert "gem" in lines[1] and "50.0" in lines[1] and "first try" in lines[1] and "01234567" in lines[1]
    assert "mac" in lines[2] and "37.5" in lines[2] and "unknown" in lines[2]


def test_log_plots_map_over_runs(tmp_path, capsys):
    log, figure = tmp_path / "experiments.jsonl", tmp_path / "runs.png"
    write_runs(log, [record("gem", 0.5), record("gem", 0.6), record("mac", 0.4)])
    assert main(["log", str(log), "--plot", str(figure)]) == 0
    assert figure.stat().st_size > 0 and f"figure: {figure}" in capsys.readouterr().out


def test_log_errors_are_one_line(tmp_path, capsys):
    assert main(["log", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["log", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no runs yet" in err and err.count("\n") == 1
    assert main(["log", str(empty), "--plot", str(tmp_path / "no" / "x.png")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
