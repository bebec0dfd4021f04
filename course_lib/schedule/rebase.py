"""Moving a term to a new one: the same sessions in order on the new class days, the old term's holidays
dropped, the new term's skipped."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

import pandas as pd

from .document import NO_CLASS, Schedule, ScheduleError, parse_schedule, to_markdown

# --------------------------------------------------------------------------- re-basing to another term


def rebase(schedule: Schedule, new_start: date | str, holidays: Iterable | Mapping = (), *,
           term: str) -> Schedule:
    """Move the whole schedule to the term named `term` whose first class is on `new_start`'s class day
    (`new_start` itself when it is a class day, else the next one).

    The old term's no-class rows (its holidays and breaks) are dropped: they belonged to that year's
    calendar. The sessions left keep their order and take the new term's class days one after another:
    the k-th class day of the old term that held a session becomes the k-th class day of the new one
    (weekdays may change; a class day the old term left empty stays empty). A holiday of the new term (a
    date, an ISO string, or a {date: name} mapping) is skipped, and on a class day it becomes a no-class
    row; a holiday before `new_start` or after the new term's last session is refused (another year's
    date, or a typo). A session held outside the weekly pattern keeps its distance in days to the class
    day before it. A deadline keeps its distance in days, and its time of day, to the session it leads up
    to (the first one starting at or after it; for a deadline after the last session, that last session).
    The returned schedule has been written out and parsed back, so it is valid schedule.md.
    """
    new_start = _as_date(new_start, "new_start")
    if not term.strip():
        raise ValueError("term: name the new term, e.g. 'Spring 2027'")
    names = _holiday_names(holidays)
    if names and NO_CLASS not in schedule.session_kinds:
        raise ScheduleError(f"holidays need the session kind '{NO_CLASS}' in the Settings", schedule.source)
    held = schedule.sessions[schedule.sessions.kind != NO_CLASS]
    if held.empty:
        raise ScheduleError("no sessions to move (every row is a no-class day)", schedule.source)
    held_days = {start.date() for start in held.start}
    dropped_days = {start.date() for start in schedule.sessions.start} - held_days
    pattern = set(schedule.class_days)
    old_slots = [day for day in _class_days(schedule.term_start, pattern, until=max(held_days))
                 if day not in dropped_days]
    slot_of = {day: index for index, day in enumerate(old_slots)}
    new_slots = _class_days(new_start, pattern, count=len(old_slots), skip=set(names))
    shift = new_slots[0] - old_slots[0]

    def new_date(old: date) -> date:
        if old in slot_of:
            return new_slots[slot_of[old]]
        earlier = [day for day in old_slots if day < old]
        moved = new_slots[slot_of[earlier[-1]]] + (old - earlier[-1]) if earlier else old + shift
        if moved in names:
            raise ScheduleError(f"the session on {old} (outside the weekly class days) lands on the holiday "
                                f"{moved}; move it by hand", schedule.source)
        return moved

    tz = schedule.tz
    sessions = [(new_date(r.start.date()), r.start.time(), r.end.time(), r.kind, r.title)
                for r in held.itertuples()]
    last = max(s[0] for s in sessions)
    for holiday, name in sorted(names.items()):
        if not new_start <= holiday <= last:
            raise ScheduleError(f"holiday {holiday} is outside the new term ({new_start} to {last}); give "
                                f"only the new term's holidays", schedule.source)
        if holiday.weekday() in pattern:
            sessions.append((holiday, schedule.class_start, schedule.class_end, NO_CLASS, f"No class: {name}"))

    deadlines = []
    for r in schedule.deadlines.itertuples():
        following = held[held.start >= r.due]
        anchor = following.iloc[0] if not following.empty else held.iloc[-1]
        offset = r.due.date() - anchor.start.date()
        day = new_date(anchor.start.date()) + offset
        deadlines.append((day, r.due.time(), r.kind, r.title, r.at_class))

    moved = Schedule(
        course=schedule.course, term=term.strip(),
        timezone=schedule.timezone, term_start=new_start, class_days=schedule.class_days,
        class_start=schedule.class_start, class_end=schedule.class_end, session_kinds=schedule.session_kinds,
        deadline_kinds=schedule.deadline_kinds,
        sessions=pd.DataFrame([{"start": _wall(d, s, tz), "end": _wall(d, e, tz), "kind": k, "title": t, "line": 0}
                               for d, s, e, k, t in sessions]).sort_values("start", kind="stable"),
        deadlines=pd.DataFrame([{"due": _wall(d, c, tz), "kind": k, "title": t, "at_class": a, "line": 0}
                                for d, c, k, t, a in deadlines], columns=["due", "kind", "title", "at_class", "line"]),
        preamble=schedule.preamble,
        notes=_rebase_notes(schedule, new_start, names),
        source=schedule.source,
    )
    return parse_schedule(to_markdown(moved), source=schedule.source)


def dropped_no_class_days(schedule: Schedule) -> list[str]:
    """The old term's no-class rows that `rebase` leaves out, as "YYYY-MM-DD (title)"."""
    rows = schedule.sessions[schedule.sessions.kind == NO_CLASS]
    return [f"{r.start.date()} ({r.title})" for r in rows.itertuples()]


def _as_date(value, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{what}: bad date {value!r} (expected YYYY-MM-DD)") from None


def _holiday_names(holidays: Iterable | Mapping) -> dict[date, str]:
    if isinstance(holidays, Mapping):
        return {_as_date(d, "holiday"): str(name) for d, name in holidays.items()}
    return {_as_date(d, "holiday"): "holiday" for d in holidays}


def _class_days(start: date, weekdays: set[int], until: date | None = None, count: int | None = None,
                skip: set[date] = frozenset()) -> list[date]:
    """Days from `start` on whose weekday is in `weekdays`, leaving out `skip`: up to `until`, or `count` of them."""
    days, day = [], start
    while (until is None or day <= until) and (count is None or len(days) < count):
        if day.weekday() in weekdays and day not in skip:
            days.append(day)
        day += timedelta(days=1)
    return days


def _wall(day: date, clock: time, tz: ZoneInfo) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, clock, tzinfo=tz))


def _rebase_notes(schedule: Schedule, new_start: date, holidays: dict[date, str]) -> str:
    listed = ", ".join(f"{d} ({n})" for d, n in sorted(holidays.items())) or "none"
    dropped = ", ".join(dropped_no_class_days(schedule)) or "none"
    return ("## Notes\n\n"
            f"Re-based with course_lib.schedule.rebase from the {schedule.term} schedule "
            f"(term start {schedule.term_start}) to the term starting {new_start}; holidays given: {listed}; "
            f"dropped the old term's no-class days: {dropped}.\n"
            "Check the titles, and add this term's breaks as no-class rows if it has any.")
