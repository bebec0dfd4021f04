"""evaluate's notebook-03 options: parsing, the independent learning set, one-line refusals."""
import pytest

from course_lib.commands import build_parser, main
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


@pytest.mark.parametrize("extra, message", [
    (["--nprobe", "4"], "--nprobe: only with --index"),
    (["--checkpoint", "x.pt", "--pca", "8"], "--checkpoint: evaluates the fine-tuned network's descriptors as they are"),
])
def test_refusals_before_any_work(extra, message, capsys):
    assert main(["evaluate", "no-such-dataset", *extra]) == 2  # refused before the dataset is looked for
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_power_outside_0_1_is_refused_while_parsing(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "mini", "--pca", "8", "--power", "2"])
    assert "argument --power: '2': give a finite number at least 0 and at most 1" in capsys.readouterr().err
