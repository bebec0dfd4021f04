"""`release --out DIR`: student copies (solutions removed) and instructor copies of the course notebooks."""
from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("release", help="write student and instructor copies of the notebooks",
                            description="Write DIR/student (exercise solutions removed, exercise outputs "
                                        "cleared) and DIR/instructor (everything, references unfolded).")
    parser.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    parser.add_argument("--notebooks", default="notebooks", metavar="FOLDER",
                        help="folder of the course notebooks NN_*.ipynb (default: ./notebooks)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..release import course_notebooks, release, skipped_notebooks

    for path in skipped_notebooks(args.notebooks):
        print(f"warning: {path.name}: skipped (a course notebook is named NN_name.ipynb)", file=sys.stderr)
    copies = release(course_notebooks(args.notebooks), args.out)
    print(f"wrote {len(copies['student'])} student and {len(copies['instructor'])} instructor notebooks "
          f"into {Path(args.out) / 'student'} and {Path(args.out) / 'instructor'}")
    return 0
