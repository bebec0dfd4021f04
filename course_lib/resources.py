"""The repository's files that notebooks and the schedule read (schedule.md, the lectures' tables, the course
CSVs, the committed benchmark table), found by one rule in a checkout, an installed wheel and beside a handout.

The rule: a file is named by its path in the repository ("lectures/spoc_table.csv") and read from
course_lib/course_files/, which holds symbolic links to the repository's files. Building a wheel copies the
files the links point to (pyproject.toml, package-data), so `pip install git+...` on Colab ships them; in a
checkout the links lead to the very files people edit, so there is one copy of each.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

FOLDER = "course_files"


def path(name: str) -> Path:
    """The file `name` (its path in the repository, e.g. "schedule.md" or "data/course") as the package has it."""
    # The kit is always installed as plain files (pip never zips a package), so the folder is a real path.
    return Path(str(resources.files(__package__).joinpath(FOLDER))) / name


def read_csv(name: str, **read_options):
    """pandas.read_csv of the file `name` (its path in the repository, e.g. "lectures/spoc_table.csv")."""
    import pandas as pd  # on first use: callers of `path` alone need no pandas

    return pd.read_csv(path(name), **read_options)
