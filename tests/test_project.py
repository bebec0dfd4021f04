"""`new-project`: a generated team project runs end to end (check, evaluate --log, its notebook)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.experiment import kit_provenance
from course_lib.project import LOG_NAME, new_project


def run_cli(*args, cwd, home):
    env = {**os.environ, "COURSE_LIB_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "course_lib", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    folder = tmp_path_factory.mktemp("projects") / "team7"
    result = run_cli("new-project", folder, cwd=folder.parent, home=home)
    assert result.returncode == 0, result.stderr
    return folder, home


def test_the_skeleton_holds_what_a_team_needs(project):
    folder, _ = project
    assert {p.name for p in folder.iterdir()} == {"README.md", "baselines.ipynb", "data", LOG_NAME, ".gitignore",
                                                  "requirements.txt"}
    readme = (folder / "README.md").read_text()
    assert "# team7" in readme and "pooling.POOLINGS[" in readme and "--log experiments.jsonl" in readme
    gt = json.loads((folder / "data" / "ground_truth.json").read_text())
    assert len(gt["queries"]) == 4
    for entry in gt["queries"]:
        assert (folder / "data" / entry["query"]).is_file()
        assert entry["easy"] + entry["hard"], "every example query has positives"
        for path in entry["easy"] + entry["hard"] + entry["junk"]:
            assert (folder / "data" / path).is_file()


def test_check_evaluate_and_log_work_on_the_project(project):
    folder, home = project
    checked = run_cli("check", "data", cwd=folder, home=home)
    assert checked.returncode == 0 and checked.stdout.startswith("ok: data: "), checked.stderr
    for pooling in ("gem", "mac"):
        result = run_cli("evaluate", "data", "--pooling", pooling, "--image-size", "256", "--quiet",
                         "--log", LOG_NAME, cwd=folder, home=home)
        assert result.returncode == 0, result.stderr
    result = run_cli("evaluate", "data", "--pooling", "gem", "--image-size", "256", "--quiet", "--log", LOG_NAME,
                     "--note", "gem again, same data", cwd=folder, home=home)
    assert result.returncode == 0, result.stderr
    runs = [json.loads(line) for line in (folder / LOG_NAME).read_text().splitlines()]
    assert [r["results"][0]["method"] for r in runs] == ["gem", "mac", "gem"]
    assert all(0 < r["results"][0]["map"] <= 1 and len(r["results"][0]["per_query_ap"]) == 4 for r in runs)
    # Enough to reproduce a run: the kit, the command, the data, the seed, what the team meant.
    assert [r["note"] for r in runs] == ["", "", "gem again, same data"]
    assert runs[0]["command"] == ("python -m course_lib evaluate data --pooling gem --image-size 256 --quiet "
                                  f"--log {LOG_NAME}")
    assert runs[0]["kit"] == kit_provenance() and runs[0]["seed"] is None
    assert len({r["data"]["fingerprint"] for r in runs}) == 1 and runs[0]["data"]["queries"] == 4
    assert runs[2]["results"][0]["map"] == runs[0]["results"][0]["map"]
    shown = run_cli("log", LOG_NAME, "--plot", "runs.png", cwd=folder, home=home)
    assert shown.returncode == 0, shown.stderr
    assert "gem again, same data" in shown.stdout and (folder / "runs.png").stat().st_size > 0


def test_the_project_notebook_runs(project):
    folder, home = project
    notebook = nbformat.read(folder / "baselines.ipynb", as_version=4)
    notebook.cells[2].source = notebook.cells[2].source.replace("MAX_SIDE = 512", "MAX_SIDE = 256")
    os.environ["COURSE_LIB_HOME"], previous = str(home), os.environ.get("COURSE_LIB_HOME")
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        if previous is None:
            del os.environ["COURSE_LIB_HOME"]
        else:
            os.environ["COURSE_LIB_HOME"] = previous
    table = next(o["data"]["text/plain"] for o in notebook.cells[3].outputs if o["output_type"] == "execute_result")
    assert all(method in table for method in ("mac", "spoc", "gem", "rmac")) and "low" in table and "high" in table
    pictures = [o for o in notebook.cells[5].outputs if {"image/jpeg", "image/png"} & set(o.get("data", {}))]
    assert len(pictures) == 1, "the results grid is drawn"
    logged = json.loads((folder / LOG_NAME).read_text().splitlines()[-1])  # the notebook's run joins the log
    assert logged["command"] == "baselines.ipynb" and logged["seed"] == 0 and logged["max_side"] == 256
    assert [r["method"] for r in logged["results"]] == ["mac", "spoc", "gem", "rmac"]


def test_an_existing_folder_is_never_written_into(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists and is not an empty folder"):
        new_project(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    from course_lib.commands import main

    assert main(["new-project", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_an_empty_project_says_what_to_fill(tmp_path):
    folder = new_project(tmp_path / "blank", example=False)
    assert json.loads((folder / "data" / "ground_truth.json").read_text()) == {"queries": []}
    from course_lib.commands import main

    assert main(["check", str(folder / "data")]) == 2


def test_a_project_has_a_gitignore_and_an_environment_file(tmp_path):
    folder = new_project(tmp_path / "team9", example=False)
    ignored = (folder / ".gitignore").read_text().splitlines()
    for pattern in (".ipynb_checkpoints/", "__pycache__/", ".venv/", ".course_lib_home/"):
        assert pattern in ignored
    patterns = [line for line in ignored if line and not line.startswith("#")]
    assert not any(LOG_NAME in p or "data" in p for p in patterns)  # the team's record stays in git
    requirements = (folder / "requirements.txt").read_text()
    commit = kit_provenance()["commit"]
    if commit != "unknown":  # the kit the project was started with, to the commit
        assert f"course_lib @ git+https://github.com/dl-image-search/course-kit@{commit}" in requirements
    assert "jupyter" in requirements.splitlines()
