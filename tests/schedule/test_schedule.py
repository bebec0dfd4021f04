"""Tests for course_lib.schedule: parsing and its error messages, status around midnight and across
time zones, calendar export, re-basing, and teams / paper claims on generated class-sized data."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import numpy as np
import pandas as pd
import pytest

from course_lib import schedule as sched
from course_lib.commands.schedule import main as schedule_main
from course_lib.schedule import ScheduleError

REPO = Path(__file__).resolve().parents[2]
SCHEDULE_MD = REPO / "schedule.md"
SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture(scope="module")
def course() -> sched.Schedule:
    return sched.load_schedule(SCHEDULE_MD)


def seoul(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_localize(SEOUL)


# --------------------------------------------------------------------------- the committed schedule


def test_committed_schedule_holds_the_slides_dates(course):
    kinds = {f"{r.start:%m/%d}": r.kind for r in course.sessions.itertuples()}
    assert kinds["10/25"] == "exam"
    for day in ("10/27", "11/01", "11/03", "11/08", "11/22", "11/24", "11/29", "12/01", "12/06"):
        assert kinds[day] == "student-presentations", day
    for day in ("11/10", "11/15", "12/13", "12/15"):
        assert kinds[day] == "project-presentations", day
    assert kinds["11/17"] == "no-class" and kinds["12/08"] == "reserved"
    # Every class is on a Tuesday or Thursday, and every Tue/Thu of the term has a row.
    assert {d.weekday() for d in course.sessions.start} == {1, 3}
    days = pd.date_range("2016-09-01", "2016-12-15", freq="D")
    assert len(course.sessions) == sum(d.weekday() in (1, 3) for d in days)
    lectures = course.sessions[course.sessions.kind == "lecture"]
    assert lectures.start.max() < seoul("2016-10-25")
    topics = ["Introduction", "Representations", "Fine-tuning", "Dimension reduction",
              "Localization and detection", "Post-processing and matching"]
    order = [next(i for i, t in enumerate(topics) if title.startswith(t)) for title in lectures.title]
    assert order == sorted(order) and set(order) == set(range(len(topics)))


def test_committed_deadlines_have_their_times(course):
    due = {r.title: r.due for r in course.deadlines.itertuples()}
    assert due["Declare project team members"] == seoul("2016-10-03 12:00")
    assert due["Declare two papers for student presentations"] == seoul("2016-10-17 12:00")
    assert due["Schedules of paper talks and project talks confirmed"] == seoul("2016-10-04 14:00")
    assert due["Declared papers discussed"] == seoul("2016-10-18 14:00")
    assert str(course.deadlines.due.dt.tz) == "Asia/Seoul"


def test_committed_schedule_is_in_canonical_form(course):
    assert sched.to_markdown(course) == SCHEDULE_MD.read_text(encoding="utf-8")


def test_overview_table_matches_the_schedule(course):
    assert sched.overview_table() == sched.render_markdown(course)


def test_update_overview_rewrites_only_the_generated_table(tmp_path, course):
    overview = tmp_path / "overview.md"
    overview.write_text(f"# Title\n\nbefore\n\n{sched.OVERVIEW_BEGIN}\n| stale |\n{sched.OVERVIEW_END}\n\nafter\n",
                        encoding="utf-8")
    assert sched.update_overview(overview, course) is True
    text = overview.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert sched.overview_table(overview) == sched.render_markdown(course)
    assert sched.update_overview(overview, course) is False


# --------------------------------------------------------------------------- the done-when


def test_cli_names_the_team_declaration_as_next(capsys):
    assert schedule_main(["--now", "2016-10-02T09:00"]) == 0
    out = capsys.readouterr().out
    assert "Next deadline: Declare project team members, due Mon 2016-10-03 12:00 KST" in out
    assert "(tomorrow, 1 day 3 h from now)" in out
    assert "Next class: lecture: Dimension reduction (2/2), Tue 2016-10-04 14:00-15:15" in out
    assert "Last: lecture: Dimension reduction (1/2), Thu 2016-09-29 14:00-15:15" in out


def test_module_runs_as_a_script():
    result = subprocess.run([sys.executable, "-m", "course_lib", "schedule", "--now", "2016-10-02T09:00"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Declare project team members, due Mon 2016-10-03 12:00 KST" in result.stdout


# --------------------------------------------------------------------------- malformed input

ROWS = SCHEDULE_MD.read_text(encoding="utf-8").splitlines()


def line_of(prefix: str) -> int:
    """1-based number of the first line of schedule.md starting with `prefix`."""
    return next(i for i, line in enumerate(ROWS, start=1) if line.startswith(prefix))


def replaced(prefix: str, new_line: str) -> tuple[str, int]:
    number = line_of(prefix)
    lines = list(ROWS)
    lines[number - 1] = new_line
    return "\n".join(lines) + "\n", number


def session_row(date_: str, day: str, time_: str, kind: str, title: str) -> str:
    return f"| {date_} | {day} | {time_} | {kind} | {title} |"


MALFORMED = {
    "bad date": (("| 2016-10-25", session_row("2016-10-32", "Tue", "", "exam", "Mid-term exam")),
                 "bad date '2016-10-32' (expected YYYY-MM-DD)"),
    "bad date format": (("| 2016-10-25", session_row("25/10/2016", "Tue", "", "exam", "Mid-term exam")),
                        "bad date '25/10/2016'"),
    "weekday does not match": (("| 2016-10-25", session_row("2016-10-26", "Tue", "", "exam", "Mid-term exam")),
                               "2016-10-26 is a Wed, not 'Tue'"),
    "unknown session kind": (("| 2016-10-25", session_row("2016-10-25", "Tue", "", "midterm", "Mid-term exam")),
                             "unknown session kind 'midterm' (known: lecture, exam,"),
    "unknown deadline kind": (("| 2016-10-03", session_row("2016-10-03", "Mon", "12:00", "teams", "Declare")),
                              "unknown deadline kind 'teams'"),
    "deadline without a time": (("| 2016-10-17", session_row("2016-10-17", "Mon", "", "paper-declaration",
                                                             "Declare two papers")),
                                "deadline of kind 'paper-declaration' needs a time"),
    "bad deadline time": (("| 2016-10-03", session_row("2016-10-03", "Mon", "24:00", "team-declaration", "D")),
                          "bad deadline time '24:00' (expected HH:MM, 24-hour)"),
    "in-class deadline on a day without class": (
        ("| 2016-10-18 | Tue | class", session_row("2016-09-15", "Thu", "class", "in-class", "Papers discussed")),
        "due at class on 2016-09-15, but no class meets that day"),
    "bad session time": (("| 2016-10-25", session_row("2016-10-25", "Tue", "14:00-1515", "exam", "Exam")),
                         "bad time '1515' (expected HH:MM, 24-hour)"),
    "session ends before it starts": (("| 2016-10-25", session_row("2016-10-25", "Tue", "15:00-14:00", "exam", "E")),
                                      "time '15:00-14:00' ends before it starts"),
    "too few cells": (("| 2016-10-25", "| 2016-10-25 | Tue | exam | Mid-term exam |"),
                      "expected 5 cells (date | day | time | kind | title), found 4"),
    "empty title": (("| 2016-10-25", session_row("2016-10-25", "Tue", "", "exam", "")), "empty title"),
    "session before the term": (("| 2016-09-01", session_row("2016-08-30", "Tue", "", "lecture", "Intro")),
                                "session on 2016-08-30 is before the term start 2016-09-01"),
    "prose inside a table section": (("| 2016-10-25", "The exam is on paper."),
                                     "unexpected text in the Sessions section"),
    "unknown time zone": (("- Time zone:", "- Time zone: Korea/Pohang"), "unknown time zone 'Korea/Pohang'"),
    "unknown setting": (("- Term:", "- Semester: Fall 2016"), "unknown setting 'Semester'"),
    "bad class time": (("- Class time:", "- Class time: Tue, Thu 2pm"), "bad time '2pm'"),
    "bad term start": (("- Term start:", "- Term start: 2016-09-31"), "bad date '2016-09-31'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_names_the_line(case):
    (prefix, new_line), expected = MALFORMED[case]
    text, number = replaced(prefix, new_line)
    with pytest.raises(ScheduleError) as raised:
        sched.parse_schedule(text)
    message = str(raised.value)
    assert message.startswith(f"schedule.md:{number}: "), message
    assert expected in message
    assert "\n" not in message
    assert raised.value.line == number


def test_two_sessions_on_one_slot_names_both_lines():
    # A second row on 2016-10-25 at an overlapping time, added right after the exam row.
    number = line_of("| 2016-10-25")
    lines = list(ROWS)
    lines.insert(number, session_row("2016-10-25", "Tue", "15:00-16:00", "lecture", "Extra"))
    with pytest.raises(ScheduleError) as raised:
        sched.parse_schedule("\n".join(lines))
    message = str(raised.value)
    assert message.startswith(f"schedule.md:{number + 1}: two sessions on one slot: "
                              f"this one overlaps line {number}")
    # Back to back is fine: 15:15 is when the exam ends.
    lines[number] = session_row("2016-10-25", "Tue", "15:15-16:00", "lecture", "Extra")
    assert len(sched.parse_schedule("\n".join(lines)).sessions) == len(sched.load_schedule(SCHEDULE_MD).sessions) + 1


def test_missing_setting_names_the_settings_heading():
    lines = [line for line in ROWS if not line.startswith("- Time zone:")]
    with pytest.raises(ScheduleError, match=rf"^schedule.md:{line_of('## Settings')}: missing setting 'Time zone'"):
        sched.parse_schedule("\n".join(lines))


def test_missing_section_is_named():
    text = "\n".join(line for line in ROWS if line != "## Deadlines")
    with pytest.raises(ScheduleError, match=r"^schedule.md: missing section '## Deadlines'$"):
        sched.parse_schedule(text)


def test_second_table_in_a_section_is_rejected_on_its_line():
    number = line_of("## Deadlines")
    lines = list(ROWS)
    lines[number - 1] = ""  # the deadlines table now follows the sessions table in the same section
    with pytest.raises(ScheduleError, match=rf"^schedule.md:{number + 2}: bad date 'date'"):
        sched.parse_schedule("\n".join(lines + ["## Deadlines", "", "| date | day | time | kind | title |",
                                                 "| --- | --- | --- | --- | --- |"]))


def test_wall_time_that_does_not_exist_is_rejected():
    lines = list(ROWS)
    lines[line_of("- Time zone:") - 1] = "- Time zone: America/New_York"
    lines[line_of("- Term start:") - 1] = "- Term start: 2016-03-01"
    row = line_of("| 2016-10-25")
    # 2016-03-13 02:30 does not exist in New York: the clocks jump from 02:00 to 03:00.
    lines[row - 1] = session_row("2016-03-13", "Sun", "02:30-03:30", "exam", "Night exam")
    with pytest.raises(ScheduleError, match=rf"^schedule.md:{row}: 02:30 on 2016-03-13 does not exist in "
                                            r"America/New_York"):
        sched.parse_schedule("\n".join(lines))


def test_load_schedule_names_its_file(tmp_path):
    bad = tmp_path / "my_schedule.md"
    text, number = replaced("| 2016-10-25", session_row("2016-10-25", "Tue", "", "quiz", "Mid-term exam"))
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ScheduleError, match=rf"my_schedule.md:{number}: unknown session kind 'quiz'"):
        sched.load_schedule(bad)


# --------------------------------------------------------------------------- status, midnight and time zones


def next_deadline_line(now) -> str:
    return next(line for line in sched.status_text(now, SCHEDULE_MD).splitlines() if line.startswith("Next deadline"))


@pytest.mark.parametrize("now, expected", [
    ("2016-10-02T23:30", "due Mon 2016-10-03 12:00 KST (tomorrow, 12 h 30 min from now)"),
    ("2016-10-03T00:00", "due Mon 2016-10-03 12:00 KST (today, 12 h from now)"),
    ("2016-10-03T00:30", "due Mon 2016-10-03 12:00 KST (today, 11 h 30 min from now)"),
    # The same instants given in other zones: converted, not read as Seoul wall time.
    ("2016-10-02T14:30+00:00", "due Mon 2016-10-03 12:00 KST (tomorrow, 12 h 30 min from now)"),
    ("2016-10-02T15:30Z", "due Mon 2016-10-03 12:00 KST (today, 11 h 30 min from now)"),
    ("2016-10-02T11:00-04:00", "due Mon 2016-10-03 12:00 KST (today, 12 h from now)"),
    (datetime(2016, 10, 2, 14, 59, tzinfo=timezone.utc), "(tomorrow, 12 h 1 min from now)"),
    (datetime(2016, 10, 3, 11, 59), "(today, 1 min from now)"),
    # Due now is still due; a minute later the next deadline is the one at class on 10/4.
    ("2016-10-03T12:00", "Declare project team members, due Mon 2016-10-03 12:00 KST (now)"),
    ("2016-10-03T12:01", "Schedules of paper talks and project talks confirmed, due Tue 2016-10-04 14:00 KST "
                         "(tomorrow, 1 day 1 h from now)"),
    ("2016-12-20T09:00", "none left this term"),
])
def test_next_deadline_around_midnight_and_across_zones(now, expected):
    assert expected in next_deadline_line(now)


def test_status_knows_the_class_in_progress():
    text = sched.status_text("2016-10-25T15:00", SCHEDULE_MD)
    assert "Now: exam: Mid-term exam, until 15:15" in text
    assert "Next class: student-presentations: Student presentations I (1/4), Thu 2016-10-27" in text
    text = sched.status_text("2016-10-25T15:15", SCHEDULE_MD)
    assert "Now:" not in text
    assert "Last: exam: Mid-term exam, Tue 2016-10-25 14:00-15:15 (now)" in text
    text = sched.status_text("2016-10-25T15:16", SCHEDULE_MD)
    assert "Last: exam: Mid-term exam, Tue 2016-10-25 14:00-15:15 (today, 1 min ago)" in text


def test_status_mentions_a_skipped_no_class_day_and_the_term_edges():
    text = sched.status_text("2016-11-16T20:00", SCHEDULE_MD)
    assert "Next class: student-presentations: Student presentations II (1/5), Tue 2016-11-22" in text
    assert "No class on Thu 2016-11-17" in text
    before = sched.status_text("2016-08-31T23:59", SCHEDULE_MD)
    assert "Last: nothing yet; the term starts Thu 2016-09-01" in before
    assert "(tomorrow, 14 h 1 min from now)" in before
    after = sched.status_text("2017-01-01T00:00", SCHEDULE_MD)
    assert "Next class: none left this term" in after
    assert "Last: project-presentations: Final project presentations (2/2)" in after


def test_upcoming_and_week_ahead(course):
    ahead = sched.upcoming("2016-10-02T09:00", course, limit=3)
    assert list(ahead.title) == ["Declare project team members",
                                 "Schedules of paper talks and project talks confirmed",
                                 "Dimension reduction (2/2)"]
    week = sched.week_ahead("2016-10-02T09:00", schedule=course)
    assert isinstance(week, pd.DataFrame)
    assert list(week.columns) == ["when", "type", "kind", "title", "start", "end"]
    assert list(week.title) == ["Declare project team members",
                                "Schedules of paper talks and project talks confirmed",
                                "Dimension reduction (2/2)", "Localization and detection (1/3)"]
    assert week.when.iloc[2] == "Tue 2016-10-04 14:00-15:15"
    # Two days from Sunday 09:00 ends on Tuesday 09:00: only the Monday deadline.
    assert list(sched.week_ahead("2016-10-02T09:00", days=2, schedule=course).title) == [
        "Declare project team members"]
    # The same instant in UTC gives the same answer; a class in progress is still ahead.
    utc = sched.week_ahead("2016-10-02T00:00+00:00", schedule=course)
    pd.testing.assert_frame_equal(utc, week)
    during = sched.week_ahead("2016-10-04T15:00", days=1, schedule=course)
    assert list(during.title) == ["Dimension reduction (2/2)"]
    with pytest.raises(ValueError, match="days must be positive"):
        sched.week_ahead("2016-10-02T09:00", days=0, schedule=course)


def test_now_that_cannot_be_read():
    with pytest.raises(ValueError, match="cannot read 'next monday'"):
        sched.status_text("next monday", SCHEDULE_MD)


# --------------------------------------------------------------------------- calendar export


def test_ics_holds_every_session_and_deadline(course):
    calendar = icalendar.Calendar.from_ical(sched.to_ics(course))
    events = list(calendar.walk("VEVENT"))
    assert len(events) == len(course.sessions) + len(course.deadlines)
    assert len({str(e["UID"]) for e in events}) == len(events)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Asia/Seoul"]

    def matching(start, title):
        return [e for e in events if e.decoded("DTSTART") == start.to_pydatetime() and title in str(e["SUMMARY"])]

    for row in course.sessions.itertuples():
        (event,) = matching(row.start, row.title)
        assert event.decoded("DTEND") == row.end.to_pydatetime()
        assert event.decoded("DTSTART").utcoffset() == timedelta(hours=9)
        assert row.kind in str(event["CATEGORIES"].to_ical())
    for row in course.deadlines.itertuples():
        (event,) = matching(row.due, row.title)
        assert str(event["SUMMARY"]) == f"Due: {row.title}"
        assert "DTEND" not in event
        (alarm,) = event.walk("VALARM")
        assert alarm.decoded("TRIGGER") == timedelta(days=-1)
    (team_event,) = matching(pd.Timestamp("2016-10-03 03:00", tz="UTC"), "Declare project team members")
    team = team_event.decoded("DTSTART")
    assert team.astimezone(timezone.utc) == datetime(2016, 10, 3, 3, 0, tzinfo=timezone.utc)


def test_write_ics_never_overwrites_a_foreign_file(tmp_path, capsys):
    target = tmp_path / "course.ics"
    assert schedule_main(["--ics", str(target)]) == 0
    assert "wrote 35 events (31 sessions, 4 deadlines)" in capsys.readouterr().out
    first = target.read_bytes()
    assert sched.write_ics(target, SCHEDULE_MD) == 35  # its own earlier export may be replaced
    notes = tmp_path / "notes.ics"
    notes.write_text("my own notes\n")
    assert schedule_main(["--ics", str(notes)]) == 2
    assert "not a calendar written by course_lib" in capsys.readouterr().err
    assert notes.read_text() == "my own notes\n"
    assert icalendar.Calendar.from_ical(first).walk("VEVENT")


# --------------------------------------------------------------------------- re-basing


HELD = "kind != 'no-class'"  # the sessions a re-based term keeps (the old term's no-class days are dropped)


def class_slots(first: str, count: int, skip=()) -> list[date]:
    """The first `count` Tuesdays and Thursdays on or after `first`, leaving out the dates in `skip`."""
    days, day = [], date.fromisoformat(first)
    while len(days) < count:
        if day.weekday() in (1, 3) and day.isoformat() not in skip:
            days.append(day)
        day += timedelta(days=1)
    return days


def test_rebase_puts_the_held_sessions_on_the_new_class_days_and_round_trips(tmp_path, course):
    moved = sched.rebase(course, "2017-08-31", term="Fall 2017")
    assert moved.term == "Fall 2017" and moved.term_start == date(2017, 8, 31)
    held, new = course.sessions.query(HELD), moved.sessions
    assert list(new.title) == list(held.title) and list(new.kind) == list(held.kind)
    assert [d.date() for d in new.start] == class_slots("2017-08-31", len(held))
    assert [t.time() for t in new.start] == [t.time() for t in held.start]
    for before, after in zip(course.deadlines.itertuples(), moved.deadlines.itertuples()):
        old_next = held[held.start >= before.due].start.iloc[0]
        new_next = new[new.start >= after.due].start.iloc[0]
        assert list(held.start).index(old_next) == list(new.start).index(new_next)  # leads up to the same session
        assert old_next.date() - before.due.date() == new_next.date() - after.due.date()
        assert after.due.time() == before.due.time() and after.at_class == before.at_class
    path = sched.write_schedule(moved, tmp_path / "schedule.md")
    again = sched.load_schedule(path)
    pd.testing.assert_frame_equal(again.sessions.drop(columns="line"), moved.sessions.drop(columns="line"))
    pd.testing.assert_frame_equal(again.deadlines.drop(columns="line"), moved.deadlines.drop(columns="line"))
    assert sched.to_markdown(again) == path.read_text(encoding="utf-8")
    with pytest.raises(ScheduleError, match="exists; not overwriting"):
        sched.write_schedule(moved, path)


def test_rebase_with_holidays_moves_classes_to_the_next_slot(course):
    holidays = {"2025-10-07": "Chuseok", "2025-10-09": "Hangul Day"}
    moved = sched.rebase(course, "2025-09-02", holidays, term="Fall 2025")
    sessions = moved.sessions
    assert set(sessions.start.dt.day_of_week) == {1, 3}
    for day, name in holidays.items():
        on_day = sessions[sessions.start.dt.date == date.fromisoformat(day)]
        assert list(on_day.kind) == ["no-class"] and list(on_day.title) == [f"No class: {name}"]
    kept = sessions[~sessions.title.str.startswith("No class: ")]
    held = course.sessions.query(HELD)
    assert list(kept.title) == list(held.title)
    assert [d.date() for d in kept.start] == class_slots("2025-09-02", len(held), skip=holidays)
    # Each deadline stays the same number of days before the class it leads up to.
    team = moved.deadlines[moved.deadlines.kind == "team-declaration"].due.iloc[0]
    first_class_after = sessions[sessions.start >= team].start.iloc[0]
    assert (first_class_after.date() - team.date()).days == 1 and f"{team:%H:%M}" == "12:00"
    assert sched.parse_schedule(sched.to_markdown(moved)).sessions.shape == sessions.shape


def test_cli_rebase_writes_a_new_file(tmp_path, capsys):
    target = tmp_path / "spring.md"
    assert schedule_main(["--rebase", "2017-03-02", "--holiday", "2017-03-09", "--term", "Spring 2017",
                       "--output", str(target)]) == 0
    assert "wrote the schedule for Spring 2017" in capsys.readouterr().out
    moved = sched.load_schedule(target)
    assert moved.term_start == date(2017, 3, 2)
    assert "No class: holiday" in set(moved.sessions.title)
    assert schedule_main(["--rebase", "2017-03-02", "--term", "Spring 2017", "--output", str(target)]) == 2
    assert "exists; not overwriting" in capsys.readouterr().err


# --------------------------------------------------------------------------- teams and paper claims

FAMILY = ["Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han", "Shin"]
GIVEN = ["Minjun", "Seoyeon", "Jiho", "Hayoon", "Doyun", "Seojun", "Jiwoo", "Yuna", "Eunwoo", "Sua", "Taeyang"]
DEADLINE_TEAMS = seoul("2016-10-03 12:00")
DEADLINE_PAPERS = seoul("2016-10-17 12:00")


def minutes_before(deadline: pd.Timestamp, rng, low: int, high: int) -> pd.Timestamp:
    return deadline - pd.Timedelta(minutes=int(rng.integers(low, high)))


def write_csv(path: Path, rows: list[dict], columns: list[str], rng=None) -> list[int]:
    """Write rows (in a shuffled order when rng is given); return each row's line number in the file."""
    order = list(rng.permutation(len(rows))) if rng is not None else list(range(len(rows)))
    pd.DataFrame([rows[i] for i in order], columns=columns).to_csv(path, index=False)
    line = [0] * len(rows)
    for position, i in enumerate(order):
        line[i] = position + 2
    return line


def iso(moment: pd.Timestamp, rng) -> str:
    """Declaration times as people write them: naive Seoul time or, now and then, with a UTC offset."""
    if rng.random() < 0.2:
        return moment.tz_convert("UTC").isoformat()
    return moment.tz_localize(None).isoformat(timespec="minutes")


def make_class(tmp_path: Path, seed: int, n_students: int) -> dict:
    """A class with known faults; returns the paths and the problems a check must find, as
    {(file name, line, category)}."""
    rng = np.random.default_rng(seed)
    ids = [f"2016{1000 + i}" for i in range(n_students)]
    students = [{"student_id": s, "name": f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}"} for s in ids]
    write_csv(tmp_path / "students.csv", students, ["student_id", "name"])
    roster_line = {s: i + 2 for i, s in enumerate(ids)}
    expected = set()

    n_papers = 2 * n_students + 10
    papers = [{"id": f"paper{i:03d}", "title": f"Synthetic paper {i}", "authors": "A. Author; B. Author",
               "venue": "CVPR", "year": 2015, "link": f"https://example.org/paper{i}",
               "topic": sched.TOPICS[i % len(sched.TOPICS)]} for i in range(n_papers)]
    write_csv(tmp_path / "papers.csv", papers, list(sched.PAPER_COLUMNS))

    # Teams of 2-4, declared before the deadline; then the faults.
    shuffled = list(rng.permutation(ids))
    no_team, shuffled = shuffled[:2], shuffled[2:]
    teams, team_rows = [], []
    while shuffled:
        size = min(int(rng.integers(2, 5)), len(shuffled))
        members, shuffled = shuffled[:size], shuffled[size:]
        teams.append(members)
    late_team = int(rng.integers(len(teams)))
    for number, members in enumerate(teams):
        declared = (DEADLINE_TEAMS + pd.Timedelta(minutes=int(rng.integers(1, 300))) if number == late_team
                    else minutes_before(DEADLINE_TEAMS, rng, 1, 14 * 24 * 60))
        team_rows += [{"team": f"team-{number:02d}", "student_id": s, "declared_at": iso(declared, rng)}
                      for s in members]
    in_two_teams = teams[0][0] if late_team != 0 else teams[1][0]
    other = 2 if late_team != 2 else 3
    team_rows.append({"team": f"team-{other:02d}", "student_id": in_two_teams,
                      "declared_at": iso(DEADLINE_TEAMS + pd.Timedelta(days=1), rng)})
    team_rows.append({"team": "team-00", "student_id": "2099999",
                      "declared_at": iso(minutes_before(DEADLINE_TEAMS, rng, 1, 600), rng)})
    lines = write_csv(tmp_path / "teams.csv", team_rows, ["team", "student_id", "declared_at"], rng)
    for i, row in enumerate(team_rows[:-2]):  # the last two rows have their own faults
        if row["team"] == f"team-{late_team:02d}":
            expected.add(("teams.csv", lines[i], "late"))
    expected.add(("teams.csv", lines[-2], "two teams"))
    expected.add(("teams.csv", lines[-1], "not on roster"))
    expected |= {("students.csv", roster_line[s], "no team") for s in no_team}

    # Paper claims: every student two distinct papers on time; then the faults, on disjoint students.
    order = list(rng.permutation(n_papers))
    spare = [f"paper{i:03d}" for i in order[2 * n_students:]]
    claims = []
    for k, s in enumerate(ids):
        for j in range(2):
            claims.append({"student_id": s, "paper_id": f"paper{order[2 * k + j]:03d}",
                           "declared_at": minutes_before(DEADLINE_PAPERS, rng, 2, 12 * 24 * 60)})
    picked = list(rng.permutation(ids))
    drop_one, drop_both, late, thieves, triple = (picked[0:3], picked[3:5], picked[5:8], picked[8:10], picked[10])
    claims = [c for c in claims if c["student_id"] not in drop_both]
    for s in drop_one:
        claims.remove([c for c in claims if c["student_id"] == s][1])
    for s in late:
        [c for c in claims if c["student_id"] == s][1]["declared_at"] = (
            DEADLINE_PAPERS + pd.Timedelta(minutes=int(rng.integers(1, 600))))
    holders = [c for c in claims if c["student_id"] not in drop_one + drop_both + late + thieves + [triple]]
    stolen = []
    for s in thieves:
        victim = holders.pop(int(rng.integers(len(holders))))
        claims.append({"student_id": s, "paper_id": victim["paper_id"],
                       "declared_at": victim["declared_at"] + pd.Timedelta(minutes=1)})
        stolen.append(len(claims) - 1)
    own = [c for c in claims if c["student_id"] == triple]
    claims.append({"student_id": triple, "paper_id": spare[0],
                   "declared_at": max(c["declared_at"] for c in own) + pd.Timedelta(minutes=1)})
    claims.append({"student_id": picked[11], "paper_id": "not-on-the-list",
                   "declared_at": minutes_before(DEADLINE_PAPERS, rng, 1, 600)})
    claims.append({"student_id": "2099999", "paper_id": spare[1],
                   "declared_at": minutes_before(DEADLINE_PAPERS, rng, 1, 600)})
    rows = [dict(c, declared_at=iso(c["declared_at"], rng)) for c in claims]
    lines = write_csv(tmp_path / "paper_claims.csv", rows, ["student_id", "paper_id", "declared_at"], rng)
    for i, c in enumerate(claims):
        if c["student_id"] in late and c["declared_at"] > DEADLINE_PAPERS:
            expected.add(("paper_claims.csv", lines[i], "late"))
    expected |= {("paper_claims.csv", lines[i], "claimed twice") for i in stolen}
    expected.add(("paper_claims.csv", lines[-3], "third paper"))
    expected.add(("paper_claims.csv", lines[-2], "not on list"))
    expected.add(("paper_claims.csv", lines[-1], "not on roster"))
    expected |= {("students.csv", roster_line[s], "1 of 2") for s in drop_one + late}
    expected |= {("students.csv", roster_line[s], "0 of 2") for s in drop_both}
    accepted = 2 * n_students - 3 - 4 - 3  # every claim minus the dropped ones and the late ones
    return {"dir": tmp_path, "papers": tmp_path / "papers.csv", "expected": expected, "accepted": accepted,
            "ids": ids, "teams": len(teams)}


CATEGORIES = [("late", r" late: "), ("two teams", r"is already in team"), ("not on roster", r"not on the roster"),
              ("no team", r"has not declared a team"), ("claimed twice", r"is claimed twice"),
              ("third paper", r"already has 2 papers"), ("not on list", r"is not on the reading list"),
              ("1 of 2", r"has 1 of 2 papers"), ("0 of 2", r"has 0 of 2 papers")]


def categorised(problems) -> set:
    found = set()
    for problem in problems:
        names = [name for name, pattern in CATEGORIES if re.search(pattern, problem.message)]
        assert len(names) == 1, str(problem)
        found.add((Path(problem.source).name, problem.line, names[0]))
    return found


CLASS_SIZES = [(0, 30), (1, 47), (2, 60)]


@pytest.mark.parametrize("seed, n_students", CLASS_SIZES)
def test_validation_finds_exactly_the_planted_problems(tmp_path, course, seed, n_students):
    planted = make_class(tmp_path, seed, n_students)
    data = sched.load_course_data(planted["dir"], planted["papers"], course)
    assert len(data.roster) == n_students
    problems = sched.check_teams(data, course, "2016-12-01T00:00") + \
        sched.check_paper_claims(data, course, "2016-12-01T00:00")
    assert categorised(problems) == planted["expected"]
    assert len(problems) == len(planted["expected"])
    assert len(sched.accepted_claims(data, course)) == planted["accepted"]


def test_missing_declarations_are_not_problems_before_the_deadline(tmp_path, course):
    planted = make_class(tmp_path, 3, 40)
    data = sched.load_course_data(planted["dir"], planted["papers"], course)
    early = categorised(sched.check_teams(data, course, "2016-10-03T11:59") +
                        sched.check_paper_claims(data, course, "2016-10-17T11:00"))
    assert early == {p for p in planted["expected"] if p[2] not in ("no team", "1 of 2", "0 of 2")}
    # The same moment given in UTC, just after the team deadline in Seoul: now they count.
    after = categorised(sched.check_teams(data, course, "2016-10-03T03:01+00:00"))
    assert {p for p in after if p[2] == "no team"} == {p for p in planted["expected"] if p[2] == "no team"}


@pytest.mark.parametrize("seed, n_students", CLASS_SIZES)
def test_paper_talk_assignment_is_fair(tmp_path, course, seed, n_students):
    planted = make_class(tmp_path, seed, n_students)
    data = sched.load_course_data(planted["dir"], planted["papers"], course)
    accepted = sched.accepted_claims(data, course)
    talks = sched.assign_paper_talks(data, course)
    assert sorted(zip(talks.student_id, talks.paper_id)) == sorted(zip(accepted.student_id, accepted.paper_id))
    rounds = sched.presentation_rounds(course, "student-presentations")
    assert [len(r) for r in rounds] == [4, 5]
    for number, days in enumerate(rounds, start=1):
        in_round = talks[talks["round"] == number]
        assert set(in_round.date) <= set(days)
        loads = in_round.groupby("date").size().reindex(days, fill_value=0)
        assert loads.max() - loads.min() <= 1
        for day, group in in_round.groupby("date"):
            assert sorted(group.order) == list(range(1, len(group) + 1))
    by_student = talks.groupby("student_id")
    topic_rank = {p: sched.TOPICS.index(t) for p, t in zip(data.papers.id, data.papers.topic)}
    for student, group in by_student:
        assert sorted(group["round"]) == list(range(1, len(group) + 1))  # one talk per round
        ranks = [topic_rank[p] for p in group.sort_values("round").paper_id]
        assert ranks == sorted(ranks)  # the earlier lecture section goes first
    two_talks = [s for s, g in by_student if len(g) == 2]

    def sequence(number):
        in_round = talks[(talks["round"] == number) & talks.student_id.isin(two_talks)]
        return list(in_round.sort_values(["date", "order"]).student_id)

    assert sequence(2) == sequence(1)[::-1]
    # Deterministic, whatever the order of the CSV rows; a different term draws a different order.
    claims = pd.read_csv(tmp_path / "paper_claims.csv", dtype=str)
    claims.sample(frac=1, random_state=seed).to_csv(tmp_path / "paper_claims.csv", index=False)
    reread = sched.load_course_data(planted["dir"], planted["papers"], course)
    pd.testing.assert_frame_equal(sched.assign_paper_talks(reread, course), talks)
    # Late claims are left out unless the instructor accepts them; then they are scheduled too.
    with_late = sched.assign_paper_talks(data, course, accept_late=True)
    assert len(with_late) == len(talks) + 3 and len(talks) == planted["accepted"]
    next_year = sched.rebase(course, "2017-09-01", term="Fall 2017")
    assert list(sched.assign_paper_talks(data, next_year).student_id) != list(talks.student_id)


@pytest.mark.parametrize("seed, n_students", CLASS_SIZES)
def test_project_talk_assignment_is_fair(tmp_path, course, seed, n_students):
    planted = make_class(tmp_path, seed, n_students)
    data = sched.load_course_data(planted["dir"], planted["papers"], course)
    talks = sched.assign_project_talks(data, course)
    midterm, final = sched.presentation_rounds(course, "project-presentations")
    assert [f"{d:%m/%d}" for d in midterm + final] == ["11/10", "11/15", "12/13", "12/15"]
    teams = sorted(data.teams.team.unique())
    for number, days in ((1, midterm), (2, final)):
        in_round = talks[talks["round"] == number]
        assert sorted(in_round.team) == teams
        loads = in_round.groupby("date").size().reindex(days, fill_value=0)
        assert loads.max() - loads.min() <= 1
    first = list(talks[talks["round"] == 1].sort_values(["date", "order"]).team)
    second = list(talks[talks["round"] == 2].sort_values(["date", "order"]).team)
    assert second == first[::-1]
    pd.testing.assert_frame_equal(sched.assign_project_talks(data, course), talks)


def test_reading_list_too_short_for_the_class_is_reported(tmp_path, course):
    ids = [f"2016{1000 + i}" for i in range(40)]
    write_csv(tmp_path / "students.csv", [{"student_id": s, "name": f"Student {s}"} for s in ids],
              ["student_id", "name"])
    write_csv(tmp_path / "teams.csv", [], ["team", "student_id", "declared_at"])
    write_csv(tmp_path / "paper_claims.csv", [], ["student_id", "paper_id", "declared_at"])
    data = sched.load_course_data(tmp_path, None, course)
    problems = sched.check_paper_claims(data, course, "2016-10-01T00:00")
    assert [p.message for p in problems] == [
        f"the reading list has {len(data.papers)} papers, fewer than the 80 that 40 students need (2 each): add papers"]


def test_bad_rows_in_class_files_name_file_and_line(tmp_path, course):
    planted = make_class(tmp_path, 4, 30)
    claims = (tmp_path / "paper_claims.csv").read_text().splitlines()
    claims[5] = "20161001,paper001,17 Oct 2016 noon"
    (tmp_path / "paper_claims.csv").write_text("\n".join(claims) + "\n")
    with pytest.raises(ScheduleError, match=r"paper_claims.csv:6: bad declared_at '17 Oct 2016 noon'"):
        sched.load_course_data(planted["dir"], planted["papers"], course)
    (tmp_path / "teams.csv").write_text("team,student_id\nA,2016001\n")
    with pytest.raises(ScheduleError, match=r"teams.csv:1: missing column\(s\) declared_at \(expected team, "):
        sched.load_course_data(planted["dir"], planted["papers"], course)


# --------------------------------------------------------------------------- the check command


def test_check_on_the_committed_files_passes(capsys):
    assert schedule_main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "schedule.md: 31 sessions, 4 deadlines, valid" in out
    assert "no students yet" in out and out.rstrip().endswith("OK: no problems found")


def test_check_lists_the_problems_and_fails(tmp_path, capsys):
    planted = make_class(tmp_path, 5, 35)
    status = schedule_main(["--check", "--data", str(tmp_path), "--papers", str(planted["papers"]),
                         "--now", "2016-11-01T00:00"])
    out = capsys.readouterr().out
    assert status == 1
    assert f"{len(planted['expected'])} problem(s) found" in out
    file, line, _ = sorted(planted["expected"])[0]
    assert re.search(rf"{file}:{line}: ", out)


def test_check_reports_a_broken_schedule(tmp_path, capsys):
    text, number = replaced("| 2016-10-25", session_row("2016-10-25", "Tue", "", "party", "Mid-term exam"))
    broken = tmp_path / "schedule.md"
    broken.write_text(text, encoding="utf-8")
    assert schedule_main(["--check", "--schedule", str(broken)]) == 1
    assert re.search(rf"schedule.md:{number}: unknown session kind 'party'", capsys.readouterr().out)


def test_missing_repository_files_are_said_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sched.document, "DEFAULT_SCHEDULE", tmp_path / "site-packages" / "schedule.md")
    assert schedule_main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "installed without the course repository" in err
    assert schedule_main(["--schedule", str(tmp_path / "mine.md")]) == 2
    assert "schedule.md not found" in capsys.readouterr().err


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert schedule_main(["--now", "tomorrow"]) == 2
    err = capsys.readouterr().err
    assert "cannot read 'tomorrow'" in err and err.count("\n") == 1
    assert schedule_main(["--ics", str(tmp_path / "no such folder" / "course.ics")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert schedule_main(["--holiday", "2017-03-09"]) == 2
    err = capsys.readouterr().err
    assert "--holiday and --term go with --rebase" in err and err.count("\n") == 1


def test_unparsable_csv_names_the_file(tmp_path, course):
    planted = make_class(tmp_path, 7, 30)
    with (tmp_path / "teams.csv").open("a") as f:
        f.write('team-99,2016001,2016-10-01T10:00,"an extra field"\n')
    with pytest.raises(ScheduleError, match=r"teams.csv: cannot read as CSV: .*Expected 3 fields"):
        sched.load_course_data(planted["dir"], planted["papers"], course)


def test_cli_prints_the_assignment(tmp_path, capsys):
    planted = make_class(tmp_path, 6, 32)
    assert schedule_main(["--assign", "--data", str(tmp_path), "--papers", str(planted["papers"])]) == 0
    out = capsys.readouterr().out
    assert "Paper talks:" in out and "Project talks:" in out and "Thu 2016-10-27" in out


def test_committed_reading_list_has_the_lecture_papers():
    papers = sched.load_reading_list()
    cited = {"krizhevsky2012alexnet": ("NIPS", 2012), "babenko2014neuralcodes": ("ECCV", 2014),
             "babenko2015spoc": ("ICCV", 2015), "tolias2016rmac": ("ICLR", 2016),
             "ren2015fasterrcnn": ("NIPS", 2015), "he2016resnet": ("CVPR", 2016),
             "wang2014deepranking": ("CVPR", 2014), "xie2015one": ("ICMR", 2015)}
    table = papers.set_index("id")
    for paper_id, (venue, year) in cited.items():
        assert (table.at[paper_id, "venue"], table.at[paper_id, "year"]) == (venue, year)
    assert len(papers) >= 28 and set(papers.topic) == set(sched.TOPICS)


# --------------------------------------------------------------------------- hardening (issue 9)

def deadline_row(date_: str, day: str, time_: str, kind: str, title: str) -> str:
    return f"| {date_} | {day} | {time_} | {kind} | {title} |"


def with_deadlines(*rows: str) -> str:
    """The committed schedule with these rows added at the end of the Deadlines table."""
    lines = list(ROWS)
    last = max(i for i, line in enumerate(lines) if line.startswith("| 2016-10-18 | Tue | class"))
    return "\n".join(lines[:last + 1] + list(rows) + lines[last + 1:]) + "\n", last + 2


@pytest.mark.parametrize("rows, expected", [
    ([deadline_row("2016-12-16", "Fri", "12:00", "paper-declaration", "Papers, far too late")],
     ["after the last class of the term", "not before the first 'student-presentations' session",
      "2 'paper-declaration' deadlines"]),
    ([deadline_row("2016-08-01", "Mon", "12:00", "team-declaration", "Teams, before the term")],
     ["2 'team-declaration' deadlines", "before the term starts (2016-09-01)"]),
    ([deadline_row("2016-10-05", "Wed", "12:00", "team-declaration", "Teams again")],
     ["2 'team-declaration' deadlines (lines"]),
    ([deadline_row("2016-11-11", "Fri", "12:00", "team-declaration", "Teams after the mid-term talks")],
     ["2 'team-declaration' deadlines", "not before the first 'project-presentations' session"]),
])
def test_check_finds_misplaced_and_repeated_declaration_deadlines(rows, expected):
    text, number = with_deadlines(*rows)
    schedule = sched.parse_schedule(text)
    problems = sched.check_deadlines(schedule)
    messages = [str(p) for p in problems]
    assert len(problems) == len(expected), messages
    for fragment in expected:
        assert any(fragment in m for m in messages), (fragment, messages)
    assert all(p.line == number for p in problems), messages  # the added row is the one named


def test_check_of_the_committed_deadlines_finds_nothing(course):
    assert sched.check_deadlines(course) == []


def test_check_command_reports_deadline_problems(tmp_path, capsys):
    text, number = with_deadlines(deadline_row("2016-10-05", "Wed", "12:00", "team-declaration", "Teams again"))
    (tmp_path / "schedule.md").write_text(text, encoding="utf-8")
    assert schedule_main(["--check", "--schedule", str(tmp_path / "schedule.md")]) == 1
    assert re.search(rf"schedule.md:{number}: 2 'team-declaration' deadlines", capsys.readouterr().out)


@pytest.mark.parametrize("written", ["now", "today", "2016", "2016-10-02", "10/02/2016 21:15", "02.10.2016 21:15",
                                     "2016-10-02 21:15", "Oct 2 2016 9pm", "2016-10-02T21", "2016-10-02T21:15+0900",
                                     "2016-13-02T21:15", "2016-10-02T25:15"])
def test_declared_at_accepts_one_documented_format(tmp_path, course, written):
    write_csv(tmp_path / "students.csv", [{"student_id": "20161000", "name": "A B"}], ["student_id", "name"])
    write_csv(tmp_path / "teams.csv", [{"team": "t1", "student_id": "20161000", "declared_at": written}],
              ["team", "student_id", "declared_at"])
    write_csv(tmp_path / "paper_claims.csv", [], ["student_id", "paper_id", "declared_at"])
    with pytest.raises(ScheduleError) as err:
        sched.load_course_data(tmp_path, None, course)
    message = str(err.value)
    assert message.startswith("teams.csv:2: bad declared_at") or ":2: bad declared_at" in message
    assert sched.DECLARED_AT_FORMAT in message and "\n" not in message


@pytest.mark.parametrize("written, expected", [
    ("2016-10-02T21:15", "2016-10-02 21:15+09:00"), ("2016-10-02T21:15:30", "2016-10-02 21:15:30+09:00"),
    ("2016-10-02T12:15+00:00", "2016-10-02 21:15+09:00"), ("2016-10-02T12:15Z", "2016-10-02 21:15+09:00"),
])
def test_declared_at_in_the_documented_format_is_read(tmp_path, course, written, expected):
    write_csv(tmp_path / "students.csv", [{"student_id": "20161000", "name": "A B"}], ["student_id", "name"])
    write_csv(tmp_path / "teams.csv", [{"team": "t1", "student_id": "20161000", "declared_at": written}],
              ["team", "student_id", "declared_at"])
    write_csv(tmp_path / "paper_claims.csv", [], ["student_id", "paper_id", "declared_at"])
    data = sched.load_course_data(tmp_path, None, course)
    assert data.teams.declared_at.iloc[0] == pd.Timestamp(expected)


def peak_rss_of_ics_export(target: Path) -> tuple[int, int, str]:
    """(exit status, peak resident memory in KiB, stderr) of `schedule --ics target` in a child process."""
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and exec, so a child of a large pytest
    # process would report its parent's peak; VmHWM belongs to the child's own address space.
    code = ("import re, sys\nfrom course_lib.commands.schedule import main\nstatus = main(['--ics', sys.argv[1]])\n"
            "status_text = open('/proc/self/status').read()\n"
            "print(re.search(r'VmHWM:\\s+(\\d+) kB', status_text).group(1))\nsys.exit(status)")
    r = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=120)
    return r.returncode, int(r.stdout.strip().splitlines()[-1]), r.stderr


def test_ics_target_is_read_only_as_far_as_the_check_needs(tmp_path):
    big = tmp_path / "movie.ics"
    with open(big, "wb") as f:  # 1 GB of someone's data, not a calendar course_lib wrote
        f.write(b"X" * 4096)
        f.seek((1 << 30) - 1)
        f.write(b"\0")
    status_big, rss_big, err = peak_rss_of_ics_export(big)
    assert status_big == 2 and "not a calendar written by course_lib" in err
    assert big.stat().st_size == 1 << 30  # untouched
    status_small, rss_small, _ = peak_rss_of_ics_export(tmp_path / "fresh.ics")
    assert status_small == 0
    assert rss_big < rss_small + 50 * 1024  # reading 1 GB would add a million KiB


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_ics_into_an_endless_device_is_written_not_read(device):
    status, rss, err = peak_rss_of_ics_export(Path(device))
    assert status == 0 and rss < 1 << 20, err  # under 1 GiB: the device was never read to its end
    assert Path(device).is_char_device()


def test_ics_into_a_full_device_or_missing_folder_is_one_line(tmp_path, capsys):
    assert schedule_main(["--ics", "/dev/full"]) == 2
    err = capsys.readouterr().err
    assert err == "error: /dev/full: cannot be written (No space left on device)\n"
    assert schedule_main(["--ics", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_ics_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path, capsys):
    real = tmp_path / "calendars" / "course.ics"
    real.parent.mkdir()
    link = tmp_path / "course.ics"
    link.symlink_to(real)
    assert schedule_main(["--ics", str(link)]) == 0
    assert link.is_symlink() and real.read_bytes().startswith(b"BEGIN:VCALENDAR")
    assert schedule_main(["--ics", str(link)]) == 0  # its own export, through the link, may be replaced
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["calendars", "course.ics"]


# --------------------------------------------------------------------------- re-basing: what a new term asks for

def test_rebase_starts_on_the_class_day_of_the_given_date(course):
    tuesday = sched.rebase(course, "2027-03-02", term="Spring 2027")  # a class day: the first class is that day
    assert tuesday.sessions.start.iloc[0].date() == date(2027, 3, 2)
    monday = sched.rebase(course, "2027-03-01", term="Spring 2027")  # not one: the next class day
    assert monday.sessions.start.iloc[0].date() == date(2027, 3, 2)


def test_rebase_drops_the_old_terms_holidays(course):
    moved = sched.rebase(course, "2027-03-02", term="Spring 2027")
    assert "no-class" not in set(moved.sessions.kind)
    assert not moved.sessions.title.str.contains("Chuseok").any()
    assert "dropped the old term's no-class days: 2016-09-15 (Chuseok (public holiday)), 2016-11-17" in moved.notes


def test_rebase_names_the_term_it_is_given(course):
    assert sched.rebase(course, "2027-03-01", term="Spring 2027").term == "Spring 2027"
    with pytest.raises(TypeError):
        sched.rebase(course, "2027-03-01")
    with pytest.raises(ValueError, match="name the new term"):
        sched.rebase(course, "2027-03-01", term=" ")


@pytest.mark.parametrize("holiday", ["2027-02-26", "2027-12-23"])
def test_rebase_refuses_a_holiday_outside_the_new_term(course, holiday):
    with pytest.raises(ScheduleError, match=f"holiday {holiday} is outside the new term "
                                            r"\(2027-03-02 to 2027-06-08\)"):
        sched.rebase(course, "2027-03-02", [holiday], term="Spring 2027")


def test_cli_rebase_asks_for_the_term_and_takes_named_holidays(tmp_path, capsys):
    target = tmp_path / "x.md"
    assert schedule_main(["--rebase", "2027-03-01", "--output", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--rebase needs --term" in err and err.count("\n") == 1 and not target.exists()
    assert schedule_main(["--rebase", "2027-03-01", "--term", "Spring 2027", "--holiday", "2027-05-04=Sports day",
                          "--output", str(target)]) == 0
    out = capsys.readouterr().out
    assert "wrote the schedule for Spring 2027 (first class 2027-03-02" in out
    assert "dropped the old term's 2 no-class days" in out and "--holiday DATE[=NAME]" in out
    moved = sched.load_schedule(target)
    assert moved.term == "Spring 2027"
    assert list(moved.sessions.query("kind == 'no-class'").title) == ["No class: Sports day"]
    assert schedule_main(["--rebase", "2027-03-01", "--term", "Spring 2027", "--holiday", "2026-12-25",
                          "--output", str(tmp_path / "y.md")]) == 2
    err = capsys.readouterr().err
    assert "holiday 2026-12-25 is outside the new term" in err and err.count("\n") == 1
