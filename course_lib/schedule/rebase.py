"""Moving a term to another year: the same weekdays and kinds, new dates, holidays skipped."""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

import pandas as pd

from .document import NO_CLASS, Schedule, ScheduleError, parse_schedule, to_markdown

# --------------------------------------------------------------------------- re-basing to another term


def rebase(schedule: Schedule, new_start: date | str, holidays: Iterable | Mapping = (),
           term: str | None = None) -> Schedule:
    """Move the whole schedule to a term starting on `new_start`.

    Every date moves by the same whole number of weeks (the first whole week on or after `new_start`),
    so weekdays and the spacing between sessions stay as they were. A holiday (a date, an ISO string, or
    a {date: name} mapping) that falls on a class day becomes a no-class row, and that class and all later
    ones move one class slot on (the next class day of the weekly pattern); a session held outside the
    weekly pattern keeps its distance to the class slot before it. A deadline keeps its distance in days,
    and its time of day, to the session it leads up to (the first one starting at or after it; for a
    deadline after the last session, that last session). No-class rows of the old term are kept in place.
    `term` names the new term (default: the old name with the old year replaced by the new one).
    The returned schedule has been written out and parsed back, so it is valid schedule.md.
    """
    new_start = _as_date(new_start, "new_start")
    names = _holiday_names(holidays)
    if names and NO_CLASS not in schedule.session_kinds:
        raise ScheduleError(f"holidays need the session kind '{NO_CLASS}' in the Settings", schedule.source)
    shift = timedelta(weeks=math.ceil((new_start - schedule.term_start).days / 7))
    pattern = set(schedule.class_days)
    last_old = schedule.sessions.start.max().date()
    old_slots = _class_days(schedule.term_start, pattern, until=last_old)
    slot_of = {day: index for index, day in enumerate(old_slots)}
    new_slots = _class_days(schedule.term_start + shift, pattern, count=len(old_slots), skip=set(names))

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
    sessions = []
    for r in schedule.sessions.itertuples():
        day = new_date(r.start.date())
        sessions.append((day, r.start.time(), r.end.time(), r.kind, r.title))
    last = max(s[0] for s in sessions)
    for holiday, name in sorted(names.items()):
        if holiday.weekday() in pattern and new_start <= holiday <= last:
            sessions.append((holiday, schedule.class_start, schedule.class_end, NO_CLASS, f"No class: {name}"))

    old_sessions = schedule.sessions
    deadlines = []
    for r in schedule.deadlines.itertuples():
        following = old_sessions[old_sessions.start >= r.due]
        anchor = following.iloc[0] if not following.empty else old_sessions.iloc[-1]
        offset = r.due.date() - anchor.start.date()
        day = new_date(anchor.start.date()) + offset
        deadlines.append((day, r.due.time(), r.kind, r.title, r.at_class))

    moved = Schedule(
        course=schedule.course, term=term or _renamed_term(schedule.term, schedule.term_start.year,
                                                          (schedule.term_start + shift).year),
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


def _renamed_term(term: str, old_year: int, new_year: int) -> str:
    return term.replace(str(old_year), str(new_year)) if str(old_year) in term else term


def _rebase_notes(schedule: Schedule, new_start: date, holidays: dict[date, str]) -> str:
    listed = ", ".join(f"{d} ({n})" for d, n in sorted(holidays.items())) or "none"
    return ("## Notes\n\n"
            f"Re-based with course_lib.schedule.rebase from the {schedule.term} schedule "
            f"(term start {schedule.term_start}) to the term starting {new_start}; holidays given: {listed}.\n"
            "No-class days kept from the old term may not apply any more: check them, and the titles.")

