"""`grade SUBMISSIONS_DIR --out grades.csv`: run each handed-in notebook's exercises against the self-checks and
write a gradebook and a feedback file per student."""
from __future__ import annotations

import sys
from pathlib import Path

from ..cli import add_quiet_option, check_output_file, positive_int, whole_number


def add_parser(sub) -> None:
    from ..grading import DEFAULT_TIMEOUT

    parser = sub.add_parser("grade", help="grade handed-in notebooks: a gradebook CSV and feedback per student",
                            description="Grade SUBMISSIONS_DIR/<student or team>/NN_*.ipynb: each notebook's "
                                        "exercise cells and the cells they need run in a fresh kernel, then the "
                                        "self-checks run on the student's functions. Writes one CSV row per "
                                        "student and check, and a markdown feedback file per folder.")
    parser.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="one folder per student id or team name")
    parser.add_argument("--out", required=True, metavar="CSV", help="the gradebook to write")
    parser.add_argument("--feedback", metavar="DIR",
                        help="folder for the feedback files (default: feedback/ beside the gradebook)")
    parser.add_argument("--notebooks", default="notebooks", metavar="FOLDER",
                        help="folder of the course notebooks NN_*.ipynb, whose check cells say what is graded "
                             "(default: ./notebooks)")
    parser.add_argument("--data", metavar="DIR", help="folder with students.csv and teams.csv (default: data/course)")
    parser.add_argument("--timeout", type=whole_number(1, unit="seconds"), default=DEFAULT_TIMEOUT,
                        metavar="SECONDS", help=f"time limit for a notebook's own cells, and again for each check "
                                                f"(default {DEFAULT_TIMEOUT})")
    parser.add_argument("--jobs", type=positive_int, default=1, metavar="N",
                        help="notebooks graded at once, each in its own kernel (default 1)")
    add_quiet_option(parser, "no progress bar and no summary")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..grading import grade_class, load_roster, write_feedback, write_gradebook
    from ..release import course_notebooks

    out = check_output_file("--out", args.out)
    feedback = Path(args.feedback).expanduser() if args.feedback else out.parent / "feedback"
    roster = load_roster(args.data)
    book = grade_class(args.submissions, course_notebooks(args.notebooks), roster, timeout=args.timeout,
                       jobs=args.jobs, progress=not args.quiet)
    for submission in book.submissions:
        if not submission.on_roster:
            print(f"warning: {submission.folder.name}: not a student id of students.csv nor a team of teams.csv; "
                  f"graded under its folder name", file=sys.stderr)
    write_gradebook(book, out)
    written = write_feedback(book, feedback)
    if not args.quiet:
        rows = book.rows()
        mean = sum(book.seconds) / len(book.seconds) if book.seconds else 0.0
        print(f"graded {len(book.submissions)} folders on {', '.join(book.checks)}: {len(book.seconds)} notebooks "
              f"run, {mean:.1f} s each on average; {sum(r['passed'] == 'yes' for r in rows)} of {len(rows)} checks "
              f"passed; students without a submission: {len(book.missing)}")
        print(f"wrote {out} and {len(written)} feedback files into {feedback}")
    return 0
