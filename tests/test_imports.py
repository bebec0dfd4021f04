"""Start-up: importing the kit and parsing its command line pull in no heavy library they do not need.

Each check runs in a fresh interpreter (this process has long imported everything) and reads sys.modules.
"""
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "skimage", "pandas", "matplotlib", "sklearn", "IPython")


def imported_after(code: str) -> set[str]:
    """The top-level packages among HEAVY that a fresh interpreter has imported after running `code`."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_course_lib_imports_nothing_heavy():
    assert imported_after("import course_lib") == set()


def test_package_faces_import_their_modules_on_first_use():
    code = "import course_lib.models, course_lib.rerank, course_lib.train, course_lib.index, course_lib.detection"
    assert imported_after(code) == set()
    assert "torch" in imported_after("import course_lib.models as m; m.load_backbone")


def test_parsing_the_command_line_needs_neither_torch_nor_torchvision():
    code = ("from course_lib.commands import build_parser\n"
            "build_parser().parse_args(['evaluate', 'mini', '--pooling', 'gem', '--scales', '1', '0.5'])")
    assert imported_after(code) & {"torch", "torchvision", "pandas", "IPython"} == set()


@pytest.mark.parametrize("argv", [
    ["evaluate"],                                   # missing dataset
    ["evaluate", "mini", "--scales", "0"],          # bad value
    ["evaluate", "mini", "--pooling", "max"],       # unknown pooling
    ["evaluate", "mini", "--backbone", "vgg19"],    # unknown backbone
    ["train", "mini-train"],                         # missing --out
    ["nonsense"],
])
def test_argument_errors_answer_without_torch(argv):
    code = ("import sys\nfrom course_lib.commands import main\n"
            f"status = main({argv!r})\nassert status == 2, status")
    assert imported_after(code) & {"torch", "torchvision"} == set()


def test_evaluate_path_does_not_import_torchvision():
    """The evaluate command's modules (extraction, backbone, pooling, search) need torch, not torchvision."""
    code = ("import course_lib.commands.evaluate, course_lib.features, course_lib.experiment, course_lib.pooling\n"
            "from course_lib.models import load_backbone\nload_backbone()")
    imported = imported_after(code)
    assert "torch" in imported and "torchvision" not in imported


def test_train_choices_are_the_implemented_losses_and_samplers_and_help_lists_them(capsys):
    from course_lib.commands import build_parser
    from course_lib.names import LOSS_NAMES, SAMPLER_NAMES
    from course_lib.train.losses import LOSSES
    from course_lib.train.samplers import SAMPLERS

    assert tuple(LOSSES) == LOSS_NAMES and SAMPLERS == SAMPLER_NAMES  # tests/train/test_samplers.py runs each sampler
    parser = build_parser()
    assert parser.parse_args(["train", "mini-train", "--out", "x", "--loss", "triplet"]).loss == "triplet"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "mini-train", "--out", "x", "--loss", "hinge"])
    error = capsys.readouterr().err
    assert "invalid choice: 'hinge'" in error and all(repr(name) in error for name in LOSS_NAMES)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    assert "{random,hard,semi-hard,distance-weighted}" in capsys.readouterr().out


def test_lazy_faces_list_their_names_and_reach_every_submodule():
    import course_lib.rerank as rerank

    assert {"apply_pipeline", "spatial_rerank"} <= set(dir(rerank)) and "spatial_rerank" in rerank.__all__
    assert rerank.knn.__name__ == "course_lib.rerank.knn"  # a submodule not named in the face
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        rerank.nothing_here  # noqa: B018


def test_a_warm_evaluate_answers_from_the_cache_without_torch(tmp_path):
    """Once every descriptor is cached, `evaluate` reads them without importing torch or building the
    network, and prints exactly what the run that computed them printed; a method that is not cached yet
    takes the full path."""
    import os

    env = {**os.environ, "COURSE_LIB_HOME": str(tmp_path)}
    argv = ["evaluate", "mini", "--pooling", "gem", "--pooling", "mac", "--image-size", "96", "--quiet"]
    code = ("import sys\nfrom course_lib.commands import main\n"
            f"assert main({argv!r}) == 0\nprint('torch imported:', 'torch' in sys.modules)")

    def run(extra: list[str] = ()) -> list[str]:
        done = subprocess.run([sys.executable, "-c", code.replace(repr(argv), repr(argv + list(extra)))],
                              capture_output=True, text=True, env=env, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()

    cold, warm = run(), run()
    assert cold[-1] == "torch imported: True" and warm[-1] == "torch imported: False"
    assert cold[:-1] == warm[:-1] and warm[0].split()[:2] == ["map_easy", "map_medium"]
    assert run(["--pooling", "spoc"])[-1] == "torch imported: True"   # spoc is not cached yet: extracted with the network
