"""evaluate's notebook-03 options: parsing, the independent learning set, one-line refusals."""
from types import SimpleNamespace

import pytest

from course_lib.cli import build_parser
from course_lib.index.cli import evaluate_reduced
from course_lib.transforms import learning_partner


def test_options_parse():
    args = build_parser().parse_args(["evaluate", "mini", "--pca", "128", "--whiten", "--power", "0.5",
                                      "--index", "IVF16,PQ16x4", "--nprobe", "4", "--learn-on", "mini-train"])
    assert (args.pca, args.whiten, args.power, args.index, args.nprobe, args.learn_on) == \
        (128, True, 0.5, "IVF16,PQ16x4", 4, "mini-train")


@pytest.mark.parametrize("bad", [["--pca", "0"], ["--pca", "x"], ["--nprobe", "-1"]])
def test_bad_numbers_are_one_line_errors(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["evaluate", "mini", *bad])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_partners_and_no_partner():
    assert learning_partner("mini") == "mini-train"
    assert learning_partner("roxford5k") == "rparis6k" and learning_partner("rparis6k") == "roxford5k"
    with pytest.raises(ValueError, match="no documented independent set.*--learn-on"):
        learning_partner("my_folder")


def args(**kw):
    base = {"pca": None, "whiten": False, "power": 1.0, "learn_on": None, "index": None, "nprobe": None, "no_download": True,
                "quiet": True, "max_side": 512, "scales": [1.0]}
    return SimpleNamespace(**{**base, **kw})


def test_refusals_before_any_work():
    dataset = SimpleNamespace(name="holidays")
    with pytest.raises(ValueError, match="--nprobe: only with --index"):
        evaluate_reduced(args(nprobe=4), dataset, None, ["gem"])
    with pytest.raises(ValueError, match="--power 2"):
        evaluate_reduced(args(pca=8, power=2.0), dataset, None, ["gem"])
    with pytest.raises(ValueError, match="dataset holidays: no documented independent set"):
        evaluate_reduced(args(pca=8), dataset, None, ["gem"])
