"""`schedule ...`: the course's status, deadlines, ICS export, checks, slot assignment and re-basing.

It parses its own arguments (`python -m course_lib schedule --help`) and needs nothing of the vision code."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from typing import TYPE_CHECKING

from ..cli import OneLineParser, one_line

if TYPE_CHECKING:
    import pandas as pd


def add_parser(sub) -> None:
    """Listed for the kit's --help; `main` parses the arguments (see commands.main)."""
    sub.add_parser("schedule", help="course schedule: status, deadlines, calendar export, checks",
                   add_help=False)


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m course_lib schedule",
        description="Show what is due next in the course; validate, export or move its schedule.")
    parser.add_argument("--now", metavar="ISO-DATETIME",
                        help="pretend it is this moment (read in the schedule's time zone unless it has an offset)")
    parser.add_argument("--ics", metavar="FILE", help="write the schedule as an iCalendar file (RFC 5545)")
    parser.add_argument("--check", action="store_true",
                        help="validate schedule.md, the reading list, teams and paper claims; exit 1 on problems")
    parser.add_argument("--assign", action="store_true",
                        help="print the paper-talk and project-talk slot assignment")
    parser.add_argument("--rebase", metavar="DATE", help="move the schedule to a term whose first class is on "
                        "DATE's class day (DATE itself, or the next class day); the old term's no-class days are "
                        "dropped")
    parser.add_argument("--holiday", metavar="DATE[=NAME]", action="append", default=[],
                        help="a holiday of the new term, inside it (with --rebase; repeat for more), e.g. "
                             "'2027-05-04=Sports day'")
    parser.add_argument("--term", metavar="NAME", help="name of the new term (needed with --rebase), "
                                                       "e.g. 'Spring 2027'")
    parser.add_argument("--output", metavar="FILE", help="where --rebase writes the new schedule.md (a new file)")
    parser.add_argument("--schedule", metavar="FILE", help="schedule.md to use (default: the repository's)")
    parser.add_argument("--data", metavar="DIR", help="folder with students.csv, teams.csv, paper_claims.csv "
                                                      "(default: the repository's data/course)")
    parser.add_argument("--papers", metavar="FILE", help="reading list CSV (default: lectures/papers.csv)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`schedule [--now ISO-DATETIME] [--ics FILE] [--check] ...`: the status by default."""
    # The schedule package (and pandas) load here, not when the kit's parser lists this command.
    from ..schedule import document
    from ..schedule.calendar import resolve_now, status_text, write_ics
    from ..schedule.classes import assign_paper_talks, assign_project_talks, check_course, load_course_data
    from ..schedule.document import ScheduleError, load_schedule, missing_file_message, write_schedule
    from ..schedule.rebase import dropped_no_class_days, rebase

    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.rebase and not args.output:
            parser.error("--rebase needs --output FILE (the new schedule.md; the old one is left as it is)")
        if args.rebase and not (args.term or "").strip():
            parser.error("--rebase needs --term NAME (the new term's name, e.g. 'Spring 2027')")
        if (args.holiday or args.term) and not args.rebase:
            parser.error("--holiday and --term go with --rebase")
    except SystemExit as done:  # --help, or a refusal already said in one line
        return int(done.code or 0)
    schedule_path = Path(args.schedule) if args.schedule else document.DEFAULT_SCHEDULE
    if not schedule_path.is_file():
        print(missing_file_message(schedule_path, "schedule.md", args.schedule is None), file=sys.stderr)
        return 2
    try:
        if args.now is not None:
            resolve_now(args.now, ZoneInfo("UTC"))  # reject an unreadable --now before doing anything
        if args.check:
            report = check_course(schedule_path, args.data, args.papers, args.now)
            print(report)
            if not report.ok:
                return 1
        schedule = load_schedule(schedule_path)
        if args.ics:
            count = write_ics(args.ics, schedule)
            print(f"wrote {count} events ({len(schedule.sessions)} sessions, {len(schedule.deadlines)} deadlines) "
                  f"to {args.ics}")
        if args.rebase:
            moved = rebase(schedule, args.rebase, _named_holidays(args.holiday), term=args.term)
            write_schedule(moved, args.output)
            print(f"wrote the schedule for {moved.term} (first class {moved.sessions.start.iloc[0]:%Y-%m-%d}, "
                  f"{len(moved.sessions)} sessions) to {args.output}")
            dropped = dropped_no_class_days(schedule)
            if dropped:
                print(f"dropped the old term's {len(dropped)} no-class days ({', '.join(dropped)}); give the new "
                      f"term's with --holiday DATE[=NAME]")
        if args.assign:
            data = load_course_data(args.data, args.papers, schedule)
            print("Paper talks:\n" + _plain(assign_paper_talks(data, schedule)))
            print("\nProject talks:\n" + _plain(assign_project_talks(data, schedule)))
        if not (args.check or args.ics or args.rebase or args.assign):
            print(status_text(args.now, schedule))
        return 0
    except (ScheduleError, ValueError, OSError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2


def _named_holidays(values: list[str]) -> dict[str, str]:
    """--holiday DATE or DATE=NAME, as {date: name}; a date alone is named "holiday"."""
    return dict((*value.split("=", 1),) if "=" in value else (value, "holiday") for value in values)


def _plain(table: pd.DataFrame) -> str:
    if table.empty:
        return "  (none)"
    shown = table.assign(date=[f"{d:%a %Y-%m-%d}" for d in table.date])
    return shown.to_string(index=False)
