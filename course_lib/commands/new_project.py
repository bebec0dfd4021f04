"""`new-project DIR`: a team project's skeleton (dataset folder, baseline notebook, experiment log, environment)."""
from __future__ import annotations


def add_parser(sub) -> None:
    new = sub.add_parser("new-project", help="start a team project: dataset folder, baseline notebook, log",
                         description="Write a project skeleton into DIR (a new or empty folder).")
    new.add_argument("folder", metavar="DIR", help="the project folder to write (new, or empty)")
    new.add_argument("--name", help="the project's name (default: the folder's name)")
    new.add_argument("--empty", action="store_true", help="no example data from mini: data/ starts empty")
    new.set_defaults(func=run)


def run(args) -> int:
    from ..project import LOG_NAME, new_project

    folder = new_project(args.folder, args.name, example=not args.empty)
    print(f"wrote {folder}: README.md, baselines.ipynb, data/, {LOG_NAME}, requirements.txt, .gitignore; "
          f"start with README.md")
    return 0
