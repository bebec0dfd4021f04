"""`--plot FILE`: evaluate draws mAP with bootstrap intervals, search its results grid; figures written atomically.
Progress bars in a log redraw rarely."""
from __future__ import annotations

import io
import math
import os

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from course_lib.commands import build_parser, main
from course_lib.evaluation import bootstrap_ci
from course_lib.experiment import rows_interval_table
from course_lib.files import save_figure

MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}


def test_interval_table_from_rows_is_the_bootstrap_of_their_per_query_ap():
    rows = [{"method": "a", "per_query_ap": [1.0, 0.5, 0.25, math.nan]}, {"method": "b", "per_query_ap": [0.2, 0.4]}]
    table = rows_interval_table(rows)
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["map", "map_low", "map_high"]
    mean, low, high = bootstrap_ci([1.0, 0.5, 0.25])  # the query without positives (NaN) is left out
    assert table.loc["a"].tolist() == pytest.approx([100 * mean, 100 * low, 100 * high], abs=0.051)
    assert table.loc["b", "map"] == pytest.approx(30.0)
    assert (table["map_low"] <= table["map"]).all() and (table["map"] <= table["map_high"]).all()


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_save_figure_writes_the_format_its_name_asks_for(tmp_path, suffix):
    figure, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    target = tmp_path / f"figure{suffix}"
    save_figure(figure, target)
    plt.close(figure)
    assert target.read_bytes().startswith(MAGIC[suffix])
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary file left


def test_evaluate_plot_draws_the_map_bars(tmp_path, capsys):
    target = tmp_path / "map.png"
    assert main(["evaluate", "mini", "--pooling", "gem", "--pooling", "mac", "--quiet", "--plot", str(target)]) == 0
    assert "gem" in capsys.readouterr().out
    assert target.read_bytes().startswith(MAGIC[".png"])


@pytest.mark.parametrize("value, message", [("map.jpg2", "must end in .png, .pdf, .svg"),
                                            ("absent/map.png", "does not exist")])
def test_evaluate_plot_refuses_a_bad_file_before_any_work(tmp_path, capsys, value, message):
    assert main(["evaluate", "mini", "--quiet", "--plot", str(tmp_path / value)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_search_takes_plot_as_the_name_of_its_figure_option():
    args = build_parser().parse_args(["search", "mini", "--query", "q.jpg", "--plot", "results.png"])
    assert args.show == "results.png"


def test_progress_bars_in_a_log_redraw_rarely(monkeypatch):
    from course_lib.cli import LOG_PROGRESS_INTERVAL_S, calm_progress_in_logs

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("TQDM_MININTERVAL", raising=False)
    calm_progress_in_logs(Terminal())
    assert "TQDM_MININTERVAL" not in os.environ
    calm_progress_in_logs(io.StringIO())  # a log file or CI's pipe
    assert os.environ["TQDM_MININTERVAL"] == LOG_PROGRESS_INTERVAL_S
