"""course_lib.resources: the repository files that notebooks and the schedule read ship inside the package,
as links to the one copy in the repository (tests/test_colab.py checks the copies inside a built wheel)."""
from __future__ import annotations

import glob
import tomllib
from pathlib import Path

import pytest

from course_lib import resources

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "course_lib" / resources.FOLDER
READ_FROM_THE_PACKAGE = ["schedule.md", "benchmarks/search_results.csv",
                         *(p.relative_to(ROOT).as_posix() for folder in ("lectures", "data/course")
                           for p in sorted((ROOT / folder).glob("*.csv")))]


@pytest.mark.parametrize("name", READ_FROM_THE_PACKAGE)
def test_the_package_reads_the_repository_file_itself(name):
    assert resources.path(name).samefile(ROOT / name)


def test_the_package_holds_links_into_the_repository_not_copies():
    """A second copy would drift; a link that git checked out as a plain file (Windows without symlinks)
    or that points nowhere would leave the wheel without the file."""
    entries = [p for p in PACKAGED.rglob("*") if not (p.is_dir() and not p.is_symlink())]
    assert entries
    for entry in entries:
        assert entry.is_symlink(), f"{entry.relative_to(ROOT)}: a copy, not a link to the repository's file"
        assert entry.exists() and entry.resolve().is_relative_to(ROOT.resolve()), f"{entry}: a dangling link"


def test_the_wheel_takes_every_file_the_package_reads():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["course_lib"]
    taken = {name for pattern in patterns for name in glob.glob(pattern, root_dir=ROOT / "course_lib")}
    missing = [name for name in READ_FROM_THE_PACKAGE if f"{resources.FOLDER}/{name}" not in taken]
    assert missing == [], f"pyproject.toml's package-data leaves out {missing}"


def test_read_csv_reads_a_table_by_its_repository_path():
    table = resources.read_csv("lectures/spoc_table.csv")
    assert "method" in table.columns and len(table) > 0
