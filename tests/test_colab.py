"""The notebooks as Colab runs them: the kit built into a wheel and installed (not editable) into a fresh virtual
environment, each notebook copied alone into an empty folder and executed top to bottom there, by
notebooks/execute.py's own `run`, with the data and caches in a folder whose path has spaces (a Google Drive
folder); the student copies that `release` writes run the same way, their exercises unanswered.
Also the setup cell's Colab branch (install the pinned commit once) and the one line of a notebook that wants a GPU.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from course_lib import config

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
EXECUTE = NOTEBOOK_DIR / "execute.py"

# Run by the fresh environment's python: nbclient there starts its kernels with that python (a kernelspec's
# "python" is the running interpreter), so the notebook imports the installed kit, never the checkout.
RUN_ALONE = """
import importlib.util, sys
from pathlib import Path
import nbformat
spec = importlib.util.spec_from_file_location("execute_notebooks", sys.argv[1])
execute_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute_notebooks)
notebook = Path(sys.argv[2])
nb = nbformat.read(notebook, as_version=4)
try:
    execute_notebooks.run(nb, notebook.parent)
finally:
    nbformat.write(nb, notebook)
"""


def repository_files() -> list[Path]:
    """What a clone holds: the tracked files and the new ones git does not ignore (as in the working tree)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the course repository as a git checkout")
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            check=True, capture_output=True, text=True).stdout
    return [Path(name) for name in listed.split("\0") if name and os.path.lexists(ROOT / name)]


def clone_into(target: Path) -> None:
    for name in repository_files():
        source, copy = ROOT / name, target / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, copy)


class Colab:
    """A fresh environment with the kit installed from a clone, and a data folder whose path has spaces."""

    def __init__(self, base: Path):
        self.base = base
        self.venv = base / "venv"
        self.python = self.venv / "bin" / "python"
        self.home = base / "My Drive" / "course lib"
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.env.update(PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                        VIRTUAL_ENV=str(self.venv), COURSE_LIB_HOME=str(self.home))

    def install(self) -> None:
        clone = self.base / "clone"
        clone_into(clone)
        venv.create(self.venv, with_pip=False)
        # This environment's packages (torch, faiss, jupyter ...) stay visible, as Colab's preinstalled ones are:
        # a path file, since `--system-site-packages` would show the base interpreter's, not this environment's.
        purelib = self.output("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        (Path(purelib) / "outer_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        self.output("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(clone))

    def output(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run([str(self.python), *args], cwd=cwd or self.base, env=self.env,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(args[:4])}: {(done.stderr or done.stdout)[-3000:]}"
        return done.stdout.strip()

    def run_alone(self, notebook: Path, folder_name: str) -> Path:
        """Copy `notebook` alone into an empty folder and execute it there; the executed copy."""
        folder = self.base / "Colab Notebooks" / folder_name
        folder.mkdir(parents=True)
        copy = folder / notebook.name
        shutil.copyfile(notebook, copy)
        self.output("-c", RUN_ALONE, str(EXECUTE), str(copy), cwd=folder)
        return copy


@pytest.fixture(scope="module")
def colab(tmp_path_factory) -> Colab:
    environment = Colab(tmp_path_factory.mktemp("colab"))
    environment.install()
    return environment


@pytest.fixture(scope="module")
def student_copies(colab) -> Path:
    out = colab.base / "release"
    colab.output("-m", "course_lib", "release", "--out", str(out), "--notebooks", str(NOTEBOOK_DIR))
    return out / "student"


def test_the_kernel_imports_the_installed_kit_not_the_checkout(colab, tmp_path):
    import nbformat

    probe = tmp_path / "probe.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, course_lib\nprint(course_lib.__file__)\nprint(sys.executable)")]), probe)
    executed = nbformat.read(colab.run_alone(probe, "probe"), as_version=4)
    package_file, executable = executed.cells[0].outputs[0]["text"].split()
    assert Path(package_file).is_relative_to(colab.venv), package_file
    assert Path(executable) == colab.python


def test_the_installed_kit_carries_the_files_notebooks_read(colab):
    installed = Path(colab.output("-c", "from course_lib import resources; print(resources.path(''))"))
    names = ["schedule.md", "benchmarks/search_results.csv",
             *(p.relative_to(ROOT).as_posix() for folder in ("lectures", "data/course")
               for p in sorted((ROOT / folder).glob("*.csv")))]
    for name in names:
        copy = installed / name
        assert copy.is_file() and not copy.is_symlink(), f"the wheel lacks {name}"
        assert copy.read_bytes() == (ROOT / name).read_bytes(), f"the wheel's {name} differs from the repository's"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_runs_alone_against_the_installed_kit(colab, student_copies, notebook):
    """Top to bottom, its exercises unanswered, with nothing of the repository beside it."""
    import nbformat

    executed = nbformat.read(colab.run_alone(student_copies / notebook.name, f"student {notebook.stem}"), 4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{notebook.name}: not every cell ran"


def test_setup_cell_on_colab_installs_the_pinned_commit_once(monkeypatch):
    """The Colab branch of notebooks/setup_cell.py, with pip replaced by a recorder."""
    source = (NOTEBOOK_DIR / "setup_cell.py").read_text().replace('COURSE_REF = "main"', 'COURSE_REF = "abc123"')
    installs, distribution = [], importlib.metadata.distribution
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda command, check: installs.append(command[-1]))

    class Installed:
        def __init__(self, vcs_info):
            self.vcs_info = vcs_info

        def read_text(self, name):
            return json.dumps({"url": "https://github.com/x/y", "vcs_info": self.vcs_info})

    for vcs_info, expected in [({"commit_id": "abc123", "requested_revision": "abc123"}, []),
                               ({"commit_id": "fed987", "requested_revision": "main"}, ["@abc123"])]:
        installs.clear()
        monkeypatch.setattr(importlib.metadata, "distribution", lambda name, info=vcs_info, real=distribution:
                            Installed(info) if name == "course_lib" else real(name))
        exec(compile(source, "setup_cell.py", "exec"), {})
        assert [url[url.rindex("@"):] for url in installs] == expected
        assert all(url.startswith("git+https://github.com/") for url in installs)


def test_a_notebook_that_wants_a_gpu_says_so_in_one_line_on_a_cpu(capsys):
    cpu = config.Environment(device="cpu", torch_version="2", home="~", seed=0)
    cpu.want_gpu("on a CPU it trains less")
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "wants a GPU: on a CPU it trains less" in line and "Colab" in line
    config.Environment(device="cuda:0", torch_version="2", home="~", seed=0).want_gpu("on a CPU it trains less")
    assert capsys.readouterr().out == ""
