"""Teams, paper claims and talk slots: reading the class CSVs, checking them against deadlines, a fair assignment."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable
from zoneinfo import ZoneInfo

import pandas as pd

from .calendar import as_schedule, resolve_now
from .document import (CLAIM_COLUMNS, DEFAULT_DATA_DIR, DEFAULT_READING_LIST, NO_CLASS, PAPER_COLUMNS,
                       PAPER_DECLARATION, PAPERS_PER_STUDENT, PROJECT_TALKS, ROSTER_COLUMNS, STUDENT_TALKS,
                       TEAM_COLUMNS, TEAM_DECLARATION, TOPICS, Schedule, ScheduleError, repo_relative_path, locate,
                       missing_file_message, load_schedule)

# --------------------------------------------------------------------------- teams and paper claims


@dataclass
class Problem:
    """One finding of a check, located in a file (and line where there is one)."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return locate(self.source, self.line) + self.message


@dataclass
class CourseData:
    """The class roster, team declarations, paper claims and the reading list, each with a `line` column
    (the line in its CSV file) and the file names used in messages."""

    roster: pd.DataFrame
    teams: pd.DataFrame
    claims: pd.DataFrame
    papers: pd.DataFrame
    sources: dict[str, str]

    def name_of(self, student_id: str) -> str:
        """The student's name from the roster, or '' for someone not on it."""
        names = self.roster.loc[self.roster.student_id == student_id, "name"]
        return names.iloc[0] if len(names) else ""

    def who(self, student_id: str) -> str:
        name = self.name_of(student_id)
        return f"{name} ({student_id})" if name else student_id


def _read_csv(path: Path, columns: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    source = repo_relative_path(path)
    if not path.is_file():
        raise ScheduleError("file not found", source)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ScheduleError(f"cannot read as CSV: {reason}", source) from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ScheduleError(f"missing column(s) {', '.join(missing)} (expected {', '.join(columns)})", source, 1)
    table = pd.DataFrame({column: table[column].str.strip() for column in columns})
    # Line numbers for messages: the header is line 1 (quoted fields spanning lines would shift them).
    table.insert(len(columns), "line", range(2, len(table) + 2))
    for row in table.itertuples():
        for column in columns:
            if not getattr(row, column):
                raise ScheduleError(f"empty '{column}'", source, row.line)
    return table, source


# The one format of declared_at: ISO 8601 date and time (seconds optional), optionally with an offset.
# Words ("now", "today"), a bare year or date, and US or European day orders are refused.
DECLARED_AT_FORMAT = "YYYY-MM-DDTHH:MM[:SS][+HH:MM|Z]"
_DECLARED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$")


def _parse_declared_at(table: pd.DataFrame, source: str, tz: ZoneInfo) -> pd.DataFrame:
    moments = []
    for row in table.itertuples():
        try:
            if not _DECLARED_AT.match(row.declared_at):
                raise ValueError(row.declared_at)
            moments.append(resolve_now(row.declared_at, tz))
        except ValueError:
            raise ScheduleError(f"bad declared_at '{row.declared_at}' (expected {DECLARED_AT_FORMAT}, e.g. "
                                f"2016-10-02T21:15, read in {tz.key} unless it has an offset)",
                                source, row.line) from None
    return table.assign(declared_at=pd.Series(moments, index=table.index, dtype=f"datetime64[us, {tz.key}]"))


def load_reading_list(path: str | Path | None = None) -> pd.DataFrame:
    """lectures/papers.csv: id, title, authors, venue, year, link, topic (one of TOPICS), with ids unique."""
    path = Path(path) if path is not None else DEFAULT_READING_LIST
    papers, source = _read_csv(path, PAPER_COLUMNS)
    first_line: dict[str, int] = {}
    for row in papers.itertuples():
        if row.id in first_line:
            raise ScheduleError(f"paper id '{row.id}' already used on line {first_line[row.id]}", source, row.line)
        first_line[row.id] = row.line
        if row.topic not in TOPICS:
            raise ScheduleError(f"unknown topic '{row.topic}' (known: {', '.join(TOPICS)})", source, row.line)
        if not re.match(r"^\d{4}$", row.year):
            raise ScheduleError(f"bad year '{row.year}'", source, row.line)
        if not row.link.startswith("https://"):
            raise ScheduleError(f"link must be an https:// URL, got '{row.link}'", source, row.line)
    return papers.assign(year=papers.year.astype(int))


def load_course_data(data_dir: str | Path | None = None, papers_path: str | Path | None = None,
                     schedule: Schedule | str | Path | None = None) -> CourseData:
    """Read students.csv, teams.csv and paper_claims.csv from `data_dir` (default data/course) and the
    reading list; declaration times without an offset are read in the schedule's time zone."""
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    if not data_dir.is_dir():
        raise ScheduleError(missing_file_message(data_dir, "the course data folder", data_dir == DEFAULT_DATA_DIR))
    tz = as_schedule(schedule).tz
    roster, roster_source = _read_csv(data_dir / "students.csv", ROSTER_COLUMNS)
    teams, teams_source = _read_csv(data_dir / "teams.csv", TEAM_COLUMNS)
    claims, claims_source = _read_csv(data_dir / "paper_claims.csv", CLAIM_COLUMNS)
    papers_path = Path(papers_path) if papers_path is not None else DEFAULT_READING_LIST
    papers = load_reading_list(papers_path)
    seen: dict[str, int] = {}
    for row in roster.itertuples():
        if row.student_id in seen:
            raise ScheduleError(f"student id '{row.student_id}' already on line {seen[row.student_id]}",
                                roster_source, row.line)
        seen[row.student_id] = row.line
    return CourseData(roster=roster, teams=_parse_declared_at(teams, teams_source, tz),
                      claims=_parse_declared_at(claims, claims_source, tz), papers=papers,
                      sources={"roster": roster_source, "teams": teams_source, "claims": claims_source,
                               "papers": repo_relative_path(papers_path)})


def deadline_of(schedule: Schedule, kind: str) -> pd.Timestamp | None:
    """When the deadline of `kind` is due (the last one if the schedule has several), or None."""
    rows = schedule.deadlines[schedule.deadlines.kind == kind]
    return None if rows.empty else rows.due.iloc[-1]


def _fmt(moment: pd.Timestamp) -> str:
    return f"{moment:%a %Y-%m-%d %H:%M %Z}"


def check_teams(data: CourseData, schedule: Schedule, now=None) -> list[Problem]:
    """Team declarations: students not on the roster, in two teams or listed twice, declared late, and
    (once the deadline has passed at `now`) roster students without a team."""
    deadline = deadline_of(schedule, TEAM_DECLARATION)
    now = resolve_now(now, schedule.tz)
    problems = []
    if deadline is None:
        problems.append(Problem(schedule.source, None, f"no '{TEAM_DECLARATION}' deadline: cannot judge lateness"))
    src = data.sources["teams"]
    on_roster = set(data.roster.student_id)
    first_row: dict[str, object] = {}
    for row in data.teams.sort_values(["declared_at", "line"], kind="stable").itertuples():
        who = data.who(row.student_id)
        if row.student_id not in on_roster:
            problems.append(Problem(src, row.line, f"student '{row.student_id}' is not on the roster "
                                                   f"({data.sources['roster']})"))
        if row.student_id in first_row:
            earlier = first_row[row.student_id]
            if earlier.team == row.team:
                problems.append(Problem(src, row.line, f"{who} is listed twice in team '{row.team}' "
                                                       f"(also line {earlier.line})"))
            else:
                problems.append(Problem(src, row.line, f"{who} is already in team '{earlier.team}' "
                                                       f"(line {earlier.line}); a student joins one team"))
            continue
        first_row[row.student_id] = row
        if deadline is not None and row.declared_at > deadline:
            problems.append(Problem(src, row.line, f"{who} joined team '{row.team}' late: "
                                                   f"{_fmt(row.declared_at)}, deadline {_fmt(deadline)}"))
    if deadline is not None and now > deadline:
        for row in data.roster.itertuples():
            if row.student_id not in first_row:
                problems.append(Problem(data.sources["roster"], row.line,
                                        f"{data.who(row.student_id)} has not declared a team "
                                        f"(deadline {_fmt(deadline)})"))
    return sorted(problems, key=_problem_order)


def _walk_claims(data: CourseData, schedule: Schedule, accept_late: bool = False
                 ) -> tuple[pd.DataFrame, list[Problem]]:
    """Go through the claims in the order they were made: first come, first served.
    A claim is accepted when its paper is on the reading list and not yet taken, its student is on the
    roster and has fewer than two papers, and it is on time (or `accept_late`)."""
    deadline = deadline_of(schedule, PAPER_DECLARATION)
    src = data.sources["claims"]
    listed = set(data.papers.id)
    on_roster = set(data.roster.student_id)
    holder: dict[str, object] = {}
    claimed_by_student: dict[tuple[str, str], int] = {}
    count: dict[str, int] = {}
    accepted, problems = [], []
    for row in data.claims.sort_values(["declared_at", "line"], kind="stable").itertuples():
        who = data.who(row.student_id)
        if row.paper_id not in listed:
            problems.append(Problem(src, row.line, f"paper '{row.paper_id}' is not on the reading list "
                                                   f"({data.sources['papers']})"))
            continue
        if row.student_id not in on_roster:
            problems.append(Problem(src, row.line, f"student '{row.student_id}' is not on the roster "
                                                   f"({data.sources['roster']})"))
            continue
        key = (row.student_id, row.paper_id)
        if key in claimed_by_student:
            problems.append(Problem(src, row.line, f"{who} claims '{row.paper_id}' again "
                                                   f"(first on line {claimed_by_student[key]})"))
            continue
        claimed_by_student[key] = row.line
        if row.paper_id in holder:
            first = holder[row.paper_id]
            problems.append(Problem(src, row.line, f"paper '{row.paper_id}' is claimed twice: "
                                                   f"{data.who(first.student_id)} claimed it first "
                                                   f"(line {first.line}, {_fmt(first.declared_at)}) and keeps it"))
            continue
        late = deadline is not None and row.declared_at > deadline
        if late:
            problems.append(Problem(src, row.line, f"{who} claimed '{row.paper_id}' late: "
                                                   f"{_fmt(row.declared_at)}, deadline {_fmt(deadline)}"))
            if not accept_late:
                continue
        if count.get(row.student_id, 0) >= PAPERS_PER_STUDENT:
            problems.append(Problem(src, row.line, f"{who} already has {PAPERS_PER_STUDENT} papers; "
                                                   f"this claim of '{row.paper_id}' is not counted"))
            continue
        holder[row.paper_id] = row
        count[row.student_id] = count.get(row.student_id, 0) + 1
        accepted.append({"student_id": row.student_id, "paper_id": row.paper_id,
                         "declared_at": row.declared_at, "line": row.line})
    table = pd.DataFrame(accepted, columns=["student_id", "paper_id", "declared_at", "line"])
    return table, problems


def accepted_claims(data: CourseData, schedule: Schedule, accept_late: bool = False) -> pd.DataFrame:
    """The claims that stand (see `check_paper_claims`): student_id, paper_id, declared_at, line."""
    return _walk_claims(data, schedule, accept_late)[0]


def check_paper_claims(data: CourseData, schedule: Schedule, now=None) -> list[Problem]:
    """Paper claims: not on the reading list, claimed twice (the first claim keeps the paper), late,
    by someone not on the roster, beyond two per student; a reading list too short for the class; and
    (once the deadline has passed at `now`) roster students with fewer than two papers."""
    deadline = deadline_of(schedule, PAPER_DECLARATION)
    now = resolve_now(now, schedule.tz)
    accepted, problems = _walk_claims(data, schedule)
    needed = PAPERS_PER_STUDENT * len(data.roster)
    if len(data.papers) < needed:
        problems.append(Problem(data.sources["papers"], None,
                                f"the reading list has {len(data.papers)} papers, fewer than the {needed} that "
                                f"{len(data.roster)} students need ({PAPERS_PER_STUDENT} each): add papers"))
    if deadline is None:
        problems.append(Problem(schedule.source, None, f"no '{PAPER_DECLARATION}' deadline: cannot judge lateness"))
    elif now > deadline:
        counts = accepted.student_id.value_counts()
        for row in data.roster.itertuples():
            have = int(counts.get(row.student_id, 0))
            if have < PAPERS_PER_STUDENT:
                problems.append(Problem(data.sources["roster"], row.line,
                                        f"{data.who(row.student_id)} has {have} of {PAPERS_PER_STUDENT} papers "
                                        f"declared by the deadline {_fmt(deadline)}"))
    return sorted(problems, key=_problem_order)


def _problem_order(problem: Problem) -> tuple:
    return (problem.source, problem.line or 0, problem.message)


def check_deadlines(schedule: Schedule) -> list[Problem]:
    """The declaration deadlines against the term: each kind at most once, inside the term (from its start
    to its last session), and before the first talk it prepares (papers before the first paper talk,
    teams before the first project talk). Any deadline before the term starts is reported too."""
    problems = []
    term_start = pd.Timestamp(schedule.term_start).tz_localize(schedule.tz)
    sessions = schedule.sessions[schedule.sessions.kind != NO_CLASS]
    term_end = sessions.end.max() if not sessions.empty else None
    prepares = {TEAM_DECLARATION: PROJECT_TALKS, PAPER_DECLARATION: STUDENT_TALKS}
    for row in schedule.deadlines.itertuples():
        if row.due < term_start:
            problems.append(Problem(schedule.source, row.line, f"deadline '{row.title}' is due {_fmt(row.due)}, "
                                                               f"before the term starts ({schedule.term_start})"))
        elif row.kind in prepares and term_end is not None and row.due > term_end:
            problems.append(Problem(schedule.source, row.line, f"'{row.kind}' deadline {_fmt(row.due)} is after "
                                                               f"the last class of the term ({_fmt(term_end)})"))
    for kind, talks in prepares.items():
        rows = schedule.deadlines[schedule.deadlines.kind == kind]
        if len(rows) > 1:
            lines = sorted(int(line) for line in rows.line)
            problems.append(Problem(schedule.source, lines[1], f"{len(rows)} '{kind}' deadlines (lines "
                                                               f"{', '.join(map(str, lines))}); a term has one"))
        slots = schedule.sessions[schedule.sessions.kind == talks]
        if rows.empty or slots.empty:
            continue
        first_talk = slots.start.min()
        for row in rows.itertuples():
            if row.due >= first_talk:
                problems.append(Problem(schedule.source, row.line,
                                        f"'{kind}' deadline {_fmt(row.due)} is not before the first '{talks}' "
                                        f"session ({_fmt(first_talk)})"))
    return sorted(problems, key=_problem_order)


# --------------------------------------------------------------------------- slot assignment


def presentation_rounds(schedule: Schedule, kind: str) -> list[list[pd.Timestamp]]:
    """Sessions of `kind` grouped into rounds: runs of such sessions not interrupted by a class of another
    kind (no-class days do not interrupt). Each round is the list of its session start times."""
    rounds: list[list[pd.Timestamp]] = []
    previous_kind = None
    for r in schedule.sessions.itertuples():
        if r.kind == NO_CLASS:
            continue
        if r.kind == kind:
            if previous_kind != kind:
                rounds.append([])
            rounds[-1].append(r.start)
        previous_kind = r.kind
    return rounds


def _draw_order(ids: Iterable[str], salt: str) -> list[str]:
    """A fixed pseudo-random order: sort by SHA-256 of salt and id."""
    return sorted(set(ids), key=lambda i: hashlib.sha256(f"{salt}:{i}".encode()).hexdigest())


def _deal(sequence: list, days: list[pd.Timestamp]) -> list[tuple[pd.Timestamp, int]]:
    """Cut `sequence` into consecutive blocks, one per day, sizes differing by at most one (earlier days
    take the extra); return (day, position within the day) for each item."""
    base, extra = divmod(len(sequence), len(days))
    placed = []
    for index, day in enumerate(days):
        size = base + (1 if index < extra else 0)
        placed.extend((day, position) for position in range(1, size + 1))
    return placed


def assign_paper_talks(data: CourseData, schedule: Schedule, accept_late: bool = False) -> pd.DataFrame:
    """Put each accepted paper claim on a student-presentation day.

    Fairness rule, deterministic (same data, same schedule: same result):
    1. A student's talks go to different rounds (the runs of student-presentation days, I and II in the
       course): the paper whose lecture section comes first goes to round I, the other to round II.
    2. The order of students is drawn by hashing each student id with the term start date: no advantage
       for an early alphabetical name or a fast claim, anyone can recompute it, and it changes each term.
    3. Round II runs in the reverse order of round I, so whoever presents first in round I (least time to
       prepare) presents last in round II (most time).
    4. Within a round, talks fill the days in that order, and day loads differ by at most one talk.
    With a single round, all first talks come in drawn order, then all second talks in reverse order.
    Returns round, date, order (within the day), student_id, name, paper_id, title, topic.
    """
    rounds = presentation_rounds(schedule, STUDENT_TALKS)
    if not rounds:
        raise ScheduleError(f"the schedule has no '{STUDENT_TALKS}' sessions to put paper talks on", schedule.source)
    claims = accepted_claims(data, schedule, accept_late)
    papers = data.papers.set_index("id")
    claims = claims.assign(topic_rank=[TOPICS.index(papers.at[p, "topic"]) for p in claims.paper_id])
    talks_of = {sid: group.sort_values(["topic_rank", "declared_at", "paper_id"]).paper_id.tolist()
                for sid, group in claims.groupby("student_id")}
    order = _draw_order(talks_of, schedule.term_start.isoformat())
    most = max((len(t) for t in talks_of.values()), default=0)
    rows = []
    for round_index, days in enumerate(rounds):
        sequence = []
        for talk_index in range(round_index, most, len(rounds)):
            students = order if talk_index % 2 == 0 else order[::-1]
            sequence += [(sid, talks_of[sid][talk_index]) for sid in students if len(talks_of[sid]) > talk_index]
        for (sid, paper_id), (day, position) in zip(sequence, _deal(sequence, days)):
            rows.append({"round": round_index + 1, "date": day, "order": position, "student_id": sid,
                         "name": data.name_of(sid), "paper_id": paper_id,
                         "title": papers.at[paper_id, "title"], "topic": papers.at[paper_id, "topic"]})
    columns = ["round", "date", "order", "student_id", "name", "paper_id", "title", "topic"]
    return pd.DataFrame(rows, columns=columns)


def assign_project_talks(data: CourseData, schedule: Schedule) -> pd.DataFrame:
    """Put every team on a project-presentation day in every round (mid-term, final).

    Same fairness rule as the paper talks: teams are ordered by hashing the team name with the term start,
    every second round runs in reverse order (who opens the mid-term closes the final), and day loads
    differ by at most one. Returns round, date, order, team, members (student ids, comma-separated).
    """
    rounds = presentation_rounds(schedule, PROJECT_TALKS)
    if not rounds:
        raise ScheduleError(f"the schedule has no '{PROJECT_TALKS}' sessions to put project talks on",
                            schedule.source)
    members = {team: ", ".join(sorted(group.student_id.unique())) for team, group in data.teams.groupby("team")}
    order = _draw_order(members, schedule.term_start.isoformat())
    rows = []
    for round_index, days in enumerate(rounds):
        sequence = order if round_index % 2 == 0 else order[::-1]
        for team, (day, position) in zip(sequence, _deal(sequence, days)):
            rows.append({"round": round_index + 1, "date": day, "order": position, "team": team,
                         "members": members[team]})
    return pd.DataFrame(rows, columns=["round", "date", "order", "team", "members"])


# --------------------------------------------------------------------------- the whole check


@dataclass
class CheckReport:
    """What `check_course` found: summary lines and problems; ok when there are no problems."""

    summary: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = list(self.summary) + [str(p) for p in self.problems]
        lines.append("OK: no problems found" if self.ok else f"{len(self.problems)} problem(s) found")
        return "\n".join(lines)


def check_course(schedule_path: str | Path | None = None, data_dir: str | Path | None = None,
                 papers_path: str | Path | None = None, now=None) -> CheckReport:
    """Validate schedule.md, the reading list, the roster, teams and paper claims as of `now`."""
    report = CheckReport()
    try:
        schedule = load_schedule(schedule_path)
    except ScheduleError as error:
        report.problems.append(Problem(error.source or "", error.line, error.reason))
        return report
    report.summary.append(f"{schedule.source}: {len(schedule.sessions)} sessions, "
                          f"{len(schedule.deadlines)} deadlines, valid")
    report.problems += check_deadlines(schedule)
    try:
        data = load_course_data(data_dir, papers_path, schedule)
    except ScheduleError as error:
        report.problems.append(Problem(error.source or "", error.line, error.reason))
        return report
    report.summary.append(f"{data.sources['papers']}: {len(data.papers)} papers on the reading list")
    if data.roster.empty and data.teams.empty and data.claims.empty:
        report.summary.append(f"{data.sources['roster']}: no students yet; teams and paper claims are checked "
                              f"once the class roster is filled in")
        return report
    report.summary.append(f"{data.sources['roster']}: {len(data.roster)} students; "
                          f"{data.teams.team.nunique()} teams; {len(data.claims)} paper claims")
    report.problems += check_teams(data, schedule, now) + check_paper_claims(data, schedule, now)
    return report

