"""What is due and when: upcoming events, the week ahead, status text, the overview table and ICS export."""
from __future__ import annotations

import os
import re
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from ..files import atomic_write
from .document import (DEFAULT_OVERVIEW, ICS_PRODID, NO_CLASS, OVERVIEW_BEGIN, OVERVIEW_END, WEEKDAYS, Schedule,
                       ScheduleError, repo_relative_path, _markdown_table, load_schedule)

# --------------------------------------------------------------------------- what is due


def as_schedule(schedule: Schedule | str | Path | None) -> Schedule:
    return schedule if isinstance(schedule, Schedule) else load_schedule(schedule)


def resolve_now(now, tz: ZoneInfo) -> pd.Timestamp:
    """`now` as a Timestamp in `tz`: None is the current time, a naive value is read as wall time in `tz`,
    an aware one is converted."""
    if now is None:
        return pd.Timestamp.now(tz=tz)
    try:
        moment = pd.Timestamp(now)
    except (ValueError, TypeError):
        raise ValueError(f"now: cannot read {now!r} as an ISO date-time such as 2016-10-02T09:00") from None
    if moment is pd.NaT:
        raise ValueError(f"now: cannot read {now!r} as an ISO date-time such as 2016-10-02T09:00")
    if moment.tzinfo is None:
        try:
            return moment.tz_localize(tz, nonexistent="raise", ambiguous="raise")
        except Exception:
            raise ValueError(f"now: {now} does not exist or is ambiguous in {tz.key} (clock change); "
                             f"give an offset such as +09:00") from None
    return moment.tz_convert(tz)


def events(schedule: Schedule | str | Path | None = None) -> pd.DataFrame:
    """Sessions and deadlines in one table sorted by time: start, end, type ('session'/'deadline'), kind, title.
    A deadline's end equals its start."""
    schedule = as_schedule(schedule)
    sessions = schedule.sessions.assign(type="session")[["start", "end", "type", "kind", "title"]]
    deadlines = schedule.deadlines.assign(type="deadline", start=schedule.deadlines.due,
                                          end=schedule.deadlines.due)[["start", "end", "type", "kind", "title"]]
    frames = [f for f in (sessions, deadlines) if not f.empty]
    return pd.concat(frames, ignore_index=True).sort_values(["start", "type"], kind="stable").reset_index(drop=True)


def _not_over(table: pd.DataFrame, now: pd.Timestamp) -> pd.Series:
    """A session is not over before its end; a deadline is not over up to and including its due time."""
    return ((table.type == "session") & (table.end > now)) | ((table.type == "deadline") & (table.start >= now))


def upcoming(now=None, schedule: Schedule | str | Path | None = None, limit: int | None = None) -> pd.DataFrame:
    """Sessions (including one in progress) and deadlines that are not over at `now`, soonest first."""
    schedule = as_schedule(schedule)
    now = resolve_now(now, schedule.tz)
    table = events(schedule)
    ahead = table[_not_over(table, now)].reset_index(drop=True)
    return ahead if limit is None else ahead.head(limit)


def week_ahead(now=None, days: float = 7, schedule: Schedule | str | Path | None = None) -> pd.DataFrame:
    """What is on in the next `days` days from `now`: columns when (readable), type, kind, title, start, end."""
    if not days > 0:
        raise ValueError(f"days must be positive, got {days}")
    schedule = as_schedule(schedule)
    now = resolve_now(now, schedule.tz)
    table = events(schedule)
    ahead = table[_not_over(table, now) & (table.start < now + pd.Timedelta(days=days))].copy()
    ahead.insert(0, "when", [_format_event_time(r.start, r.end, r.type) for r in ahead.itertuples()])
    return ahead[["when", "type", "kind", "title", "start", "end"]].reset_index(drop=True)


def _format_event_time(start: pd.Timestamp, end: pd.Timestamp, kind_of_event: str) -> str:
    if kind_of_event == "session":
        return f"{start:%a %Y-%m-%d %H:%M}-{end:%H:%M}"
    return f"{start:%a %Y-%m-%d %H:%M}"


def _format_duration(delta: pd.Timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        text = f"{days} day" + ("s" if days != 1 else "")
        return text + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


def _relative(moment: pd.Timestamp, now: pd.Timestamp) -> str:
    """'tomorrow, 12 h 30 min from now', '2 days 5 h from now', 'yesterday, 18 h ago'.
    today/tomorrow/yesterday are calendar days in the schedule's zone, which matters around midnight."""
    if moment == now:
        return "now"
    day = {0: "today, ", 1: "tomorrow, ", -1: "yesterday, "}.get((moment.date() - now.date()).days, "")
    if moment > now:
        return f"{day}{_format_duration(moment - now)} from now"
    return f"{day}{_format_duration(now - moment)} ago"


def status_text(now=None, schedule: Schedule | str | Path | None = None) -> str:
    """A few lines for a student: the next deadline and how long until it, what happened last,
    the class in progress if any, and the next class."""
    schedule = as_schedule(schedule)
    now = resolve_now(now, schedule.tz)
    table = events(schedule)
    lines = [f"{schedule.course}, {schedule.term}: status at {now:%a %Y-%m-%d %H:%M %Z} ({schedule.timezone})"]

    deadlines = table[(table.type == "deadline") & (table.start >= now)]
    if deadlines.empty:
        lines.append("Next deadline: none left this term")
    else:
        d = deadlines.iloc[0]
        lines.append(f"Next deadline: {d.title}, due {d.start:%a %Y-%m-%d %H:%M %Z} ({_relative(d.start, now)})")

    classes = table[(table.type == "session") & (table.kind != NO_CLASS)]
    running = classes[(classes.start <= now) & (classes.end > now)]
    for r in running.itertuples():
        lines.append(f"Now: {r.kind}: {r.title}, until {r.end:%H:%M}")

    over = table[~_not_over(table, now)]
    if over.empty:
        lines.append(f"Last: nothing yet; the term starts {schedule.term_start:%a %Y-%m-%d}")
    else:
        last = over.sort_values(["end", "start"], kind="stable").iloc[-1]
        lines.append(f"Last: {last.kind}: {last.title}, {_format_event_time(last.start, last.end, last.type)} "
                     f"({_relative(last.end, now)})")

    later = classes[classes.start > now]
    if later.empty:
        lines.append("Next class: none left this term")
    else:
        n = later.iloc[0]
        lines.append(f"Next class: {n.kind}: {n.title}, {_format_event_time(n.start, n.end, 'session')} "
                     f"({_relative(n.start, now)})")
        skipped = table[(table.kind == NO_CLASS) & (table.start > now) & (table.start < n.start)]
        for s in skipped.itertuples():
            reason = "" if s.title.lower() == "no class" else f": {s.title}"
            lines.append(f"No class on {s.start:%a %Y-%m-%d}{reason}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- overview table


def render_markdown(schedule: Schedule | str | Path | None = None) -> str:
    """The schedule as one markdown table (sessions and deadlines by date) for lectures/00_course_overview.md."""
    schedule = as_schedule(schedule)
    rows = []
    for r in events(schedule).itertuples():
        if r.type == "session":
            rows.append((f"{r.start:%Y-%m-%d}", f"{r.start:%a}", f"{r.start:%H:%M}-{r.end:%H:%M}", r.kind, r.title))
        else:
            rows.append((f"{r.start:%Y-%m-%d}", f"{r.start:%a}", f"{r.start:%H:%M}", f"deadline: {r.kind}",
                         f"**Due:** {r.title}"))
    caption = (f"Times are {schedule.timezone}; classes meet "
               f"{', '.join(WEEKDAYS[d] for d in schedule.class_days)} {schedule.class_time}.\n\n")
    return caption + _markdown_table(("Date", "Day", "Time", "Kind", "What"), rows)


def update_overview(path: str | Path | None = None, schedule: Schedule | str | Path | None = None) -> bool:
    """Replace the generated table between the markers in the overview; return whether the file changed."""
    path = Path(path) if path is not None else DEFAULT_OVERVIEW
    text = path.read_text(encoding="utf-8")
    if OVERVIEW_BEGIN not in text or OVERVIEW_END not in text:
        raise ScheduleError("the generated-table markers are missing", repo_relative_path(path))
    head, rest = text.split(OVERVIEW_BEGIN, 1)
    _, tail = rest.split(OVERVIEW_END, 1)
    updated = f"{head}{OVERVIEW_BEGIN}\n{render_markdown(schedule)}{OVERVIEW_END}{tail}"
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text


def overview_table(path: str | Path | None = None) -> str:
    """The generated table as it stands in the overview file (what update_overview would replace)."""
    path = Path(path) if path is not None else DEFAULT_OVERVIEW
    text = path.read_text(encoding="utf-8")
    if OVERVIEW_BEGIN not in text or OVERVIEW_END not in text:
        raise ScheduleError("the generated-table markers are missing", repo_relative_path(path))
    return text.split(OVERVIEW_BEGIN, 1)[1].split(OVERVIEW_END, 1)[0].removeprefix("\n")


# --------------------------------------------------------------------------- calendar export


def to_ics(schedule: Schedule | str | Path | None = None, stamp: datetime | None = None) -> bytes:
    """The schedule as an RFC 5545 calendar: one VEVENT per session and per deadline (with a reminder
    a day ahead), times in the schedule's zone with its VTIMEZONE."""
    import icalendar

    schedule = as_schedule(schedule)
    stamp = stamp or datetime.now(timezone.utc)
    calendar = icalendar.Calendar()
    calendar.add("prodid", ICS_PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{schedule.course} ({schedule.term})")
    calendar.add("x-wr-timezone", schedule.timezone)
    for r in schedule.sessions.itertuples():
        event = icalendar.Event()
        event.add("uid", _uid("session", r.start, r.kind, r.title))
        event.add("dtstamp", stamp)
        event.add("dtstart", r.start.to_pydatetime())
        event.add("dtend", r.end.to_pydatetime())
        event.add("summary", _session_summary(r.kind, r.title))
        event.add("categories", [r.kind])
        event.add("description", f"{schedule.course}, {schedule.term}: {r.kind}")
        if r.kind == NO_CLASS:
            event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    for r in schedule.deadlines.itertuples():
        event = icalendar.Event()
        event.add("uid", _uid("deadline", r.due, r.kind, r.title))
        event.add("dtstamp", stamp)
        # A DATE-TIME DTSTART without DTEND is an event that ends when it starts (RFC 5545, 3.6.1).
        event.add("dtstart", r.due.to_pydatetime())
        event.add("summary", f"Due: {r.title}")
        event.add("categories", ["deadline", r.kind])
        event.add("description", f"{schedule.course}, {schedule.term}: deadline ({r.kind})")
        event.add("transp", "TRANSPARENT")
        reminder = icalendar.Alarm()
        reminder.add("action", "DISPLAY")
        reminder.add("description", f"Due tomorrow: {r.title}")
        reminder.add("trigger", timedelta(days=-1))
        event.add_component(reminder)
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def _session_summary(kind: str, title: str) -> str:
    if kind == NO_CLASS and not title.lower().startswith("no class"):
        return f"No class: {title}"
    return title


def _uid(what: str, moment: pd.Timestamp, kind: str, title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
    return f"{what}-{moment:%Y%m%dT%H%M}-{kind}-{slug}@course-lib"


ICS_HEAD_BYTES = 500  # how much of an existing file is read to recognise a calendar this module wrote


def write_ics(path: str | Path, schedule: Schedule | str | Path | None = None) -> int:
    """Write the calendar to `path` and return how many events it holds. Replaces a calendar this module
    wrote before, never any other regular file; writes through a symlink; writes into a device or pipe
    (/dev/stdout) without reading it. Only the first ICS_HEAD_BYTES of an existing file are read."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode if os.path.lexists(path) else None
    except FileNotFoundError:  # a dangling symlink: its target is created
        mode = None
    except OSError as err:  # a symlink loop, a dangling link's missing folder, no permission
        raise ScheduleError(f"{path}: cannot be written ({err.strerror or type(err).__name__})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ScheduleError(f"{path} is a folder; give a file name for the calendar")
    if mode is not None and stat.S_ISREG(mode):
        with open(path, "rb") as existing:
            head = existing.read(ICS_HEAD_BYTES)
        if b"BEGIN:VCALENDAR" not in head or ICS_PRODID.encode() not in head:
            raise ScheduleError(f"{path} exists and is not a calendar written by course_lib; not overwriting it")
    elif mode is None and not path.resolve().parent.is_dir():
        raise ScheduleError(f"{path}: folder {path.resolve().parent} does not exist")
    schedule = as_schedule(schedule)
    calendar = to_ics(schedule)
    try:
        with atomic_write(path) as f:
            f.write(calendar)
    except OSError as err:  # /dev/full, a full disk, a read-only folder
        raise ScheduleError(f"{path}: cannot be written ({err.strerror or type(err).__name__})") from None
    return len(schedule.sessions) + len(schedule.deadlines)

