"""The re-ranking pipeline: its syntax, its one-line errors, composition, and `evaluate --rerank` end to end."""
import json
import os
import subprocess
import sys
from typing import ClassVar

import numpy as np
import pytest

from support import write_folder_dataset
from course_lib.experiment import evaluate_descriptors
from course_lib.features import Descriptors
from course_lib.index import rank_database
from course_lib.rerank import (
    METHODS,
    RerankSpecError,
    apply_pipeline,
    average_query_expansion,
    database_augmentation,
    diffusion_rerank,
    format_pipeline,
    parse_pipeline,
)


def test_parse_fills_defaults_and_reads_both_separators():
    steps = parse_pipeline("aqe:k=3,dba,diffusion:k=20,alpha=0.9")
    assert [s.method for s in steps] == ["aqe", "dba", "diffusion"]
    assert steps[0].params == {"k": 3} and steps[1].params == METHODS["dba"][1]
    assert steps[2].params == {**METHODS["diffusion"][1], "k": 20, "alpha": 0.9}
    assert parse_pipeline("diffusion:k=20:alpha=0.9") == parse_pipeline("diffusion:k=20,alpha=0.9")
    assert parse_pipeline("spatial:model=homography:top=5")[0].params["model"] == "homography"


def test_format_reads_back():
    steps = parse_pipeline("alpha-qe:k=4,k-reciprocal:lam=0.5,spatial:top=10")
    assert parse_pipeline(format_pipeline(steps)) == steps


@pytest.mark.parametrize("spec, message", [
    ("", "empty re-ranking specification; methods: aqe, alpha-qe"),
    ("qe", "unknown re-ranking method 'qe'; valid methods: aqe, alpha-qe, dba, k-reciprocal, diffusion, spatial"),
    ("aqe:n=2", "aqe: unknown parameter 'n'; valid parameters: k"),
    ("aqe:k=two", "aqe: k=two is not an integer"),
    ("aqe:k=-1", "aqe: k=-1 must be at least 0"),
    ("aqe:k", "aqe: 'k' is not name=value; parameters: k"),
    ("aqe:k=1:k=2", "aqe: k given twice"),
    ("k=2,aqe", "starts with a parameter (k=2)"),
    ("aqe,,dba", "empty step"),
    ("diffusion:alpha=1", "diffusion: alpha=1 must be below 1.0"),
    ("diffusion:k=0", "diffusion: k=0 must be greater than 0"),
    ("alpha-qe:alpha=nan", "alpha-qe: alpha=nan is not a finite number"),
    ("k-reciprocal:lam=2", "k-reciprocal: lam=2 must be at most 1"),
    ("spatial:model=similarity", "spatial: model=similarity is not one of affine, homography"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(RerankSpecError) as error:
        parse_pipeline(spec)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_pipeline_composes_the_functions():
    rng = np.random.default_rng(0)
    db = rng.normal(size=(60, 8)).astype(np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    queries = db[:5] + 0.3 * rng.normal(size=(5, 8)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    result = apply_pipeline("dba:k=2,aqe:k=3,diffusion:k=8:query_k=4", db, queries)
    augmented = database_augmentation(db, 2)
    expanded = average_query_expansion(augmented, queries, rank_database(augmented, queries), 3)
    by_hand = diffusion_rerank(augmented, expanded, rank_database(augmented, expanded), 8, 4)
    np.testing.assert_array_equal(result.ranks, by_hand)
    assert [name for name, _ in result.seconds] == [str(s) for s in parse_pipeline("dba:k=2,aqe:k=3,diffusion:k=8:query_k=4")]


def test_spatial_needs_the_images():
    db = np.eye(4, dtype=np.float32)
    with pytest.raises(ValueError, match="spatial verification needs the images"):
        apply_pipeline("spatial", db, db[:1])


def test_evaluate_descriptors_records_the_pipeline():
    class Tiny:
        protocol, query_ids, n_queries = "custom", None, 2
        gnd: ClassVar[list] = [{"easy": [0, 1], "hard": [], "junk": []}, {"easy": [2, 3], "hard": [], "junk": []}]

    db = np.array([[1, 0], [0.8, 0.6], [0, 1], [0.6, 0.8], [0.7, -0.7]], dtype=np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    descriptors = Descriptors(db={"gem": db}, queries={"gem": db[[0, 2]]})
    plain, = evaluate_descriptors(Tiny(), descriptors)
    expanded, = evaluate_descriptors(Tiny(), descriptors, rerank="aqe:k=1")
    assert "rerank" not in plain and expanded["rerank"] == "aqe:k=1"
    assert expanded["map"] == pytest.approx(1.0)


# ---------------------------------------------------------------- the command line

def run_cli(*args, home):
    env = {**os.environ, "COURSE_LIB_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "course_lib", *args], check=False, capture_output=True, text=True, env=env,
                          timeout=900)


def test_cli_bad_spec_is_one_line_before_any_work(tmp_path):
    r = run_cli("evaluate", "mini", "--rerank", "aqe:k=2,magic", home=tmp_path / "home")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "unknown re-ranking method 'magic'; valid methods: aqe" in r.stderr
    assert not (tmp_path / "home").exists(), "nothing was built or extracted"


def test_cli_rerank_refuses_what_it_would_ignore(tmp_path):
    r = run_cli("evaluate", "mini", "--rerank", "aqe", "--checkpoint", "net.pt", home=tmp_path / "home")
    assert r.returncode == 2 and "--rerank applies to the plain search only" in r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "home").exists()


def test_cli_rerank_on_a_folder_dataset(tmp_path):
    root = write_folder_dataset(tmp_path / "my_dataset")
    out = tmp_path / "r.json"
    spec = "aqe:k=1,dba:k=1,diffusion:k=3:query_k=2,spatial:top=6"
    r = run_cli("evaluate", str(root), "--pooling", "gem", "--image-size", "224", "--rerank", spec,
                "--json", str(out), "--quiet", home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert [step["method"] for step in result["rerank"]] == ["aqe", "dba", "diffusion", "spatial"]
    assert result["rerank"][2] == {"method": "diffusion", "k": 3, "query_k": 2, "alpha": 0.99, "gamma": 3.0}
    row, = result["results"]
    assert row["rerank"] == format_pipeline(parse_pipeline(spec)) and 0.5 < row["map"] <= 1.0
    assert any((tmp_path / "home" / "local_features").glob("orb-*.npz")), "ORB features are cached"


def test_cli_rerank_on_mini(tmp_path):
    out = tmp_path / "mini.json"
    r = run_cli("evaluate", "mini", "--pooling", "gem", "--image-size", "64", "--rerank", "aqe:k=2,dba:k=2",
                "--json", str(out), "--quiet", home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert result["rerank"] == [{"method": "aqe", "k": 2}, {"method": "dba", "k": 2, "alpha": 0.0}]
    row, = result["results"]
    assert len(row["per_query_ap"]) == 22 and 0.3 < row["map_medium"] <= 1.0

