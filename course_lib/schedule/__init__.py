"""Course logistics: the schedule in schedule.md, what is due next, calendar export, re-basing a term,
project teams and paper talks (validation and a fair slot assignment); its command line is
course_lib.commands.schedule.

schedule.md is at once the schedule people read and the data this package parses; its preamble
explains the format. Nothing here depends on the vision code.
"""
from . import document
from .document import (AT_CLASS, CLAIM_COLUMNS, DEFAULT_DATA_DIR, DEFAULT_OVERVIEW, DEFAULT_READING_LIST,
                       DEFAULT_SCHEDULE, ICS_PRODID, NO_CLASS, OVERVIEW_BEGIN, OVERVIEW_END, PAPERS_PER_STUDENT,
                       PAPER_COLUMNS, PAPER_DECLARATION, PROJECT_TALKS, REPO_ROOT, ROSTER_COLUMNS, SETTING_KEYS,
                       STUDENT_TALKS, TABLE_COLUMNS, TEAM_COLUMNS, TEAM_DECLARATION, TOPICS, WEEKDAYS, Schedule,
                       ScheduleError, load_schedule, parse_schedule, to_markdown, write_schedule)
from .calendar import (events, overview_table, render_markdown, resolve_now, status_text, to_ics, upcoming,
                       update_overview, week_ahead, write_ics)
from .rebase import rebase
from .classes import (DECLARED_AT_FORMAT, CheckReport, CourseData, Problem, accepted_claims, assign_paper_talks,
                      assign_project_talks, check_course, check_deadlines, check_paper_claims, check_teams,
                      deadline_of, load_course_data,
                      load_reading_list, presentation_rounds)

__all__ = ["document", "AT_CLASS", "CLAIM_COLUMNS", "DEFAULT_DATA_DIR", "DEFAULT_OVERVIEW", "DEFAULT_READING_LIST",
           "DEFAULT_SCHEDULE", "ICS_PRODID", "NO_CLASS", "OVERVIEW_BEGIN", "OVERVIEW_END", "PAPERS_PER_STUDENT",
           "PAPER_COLUMNS", "PAPER_DECLARATION", "PROJECT_TALKS", "REPO_ROOT", "ROSTER_COLUMNS", "SETTING_KEYS",
           "STUDENT_TALKS", "TABLE_COLUMNS", "TEAM_COLUMNS", "TEAM_DECLARATION", "TOPICS", "WEEKDAYS", "Schedule",
           "ScheduleError", "load_schedule", "parse_schedule", "to_markdown", "write_schedule", "events",
           "overview_table", "render_markdown", "resolve_now", "status_text", "to_ics", "upcoming",
           "update_overview", "week_ahead", "write_ics", "rebase", "DECLARED_AT_FORMAT", "check_deadlines", "CheckReport", "CourseData", "Problem",
           "accepted_claims", "assign_paper_talks", "assign_project_talks", "check_course", "check_paper_claims",
           "check_teams", "deadline_of", "load_course_data", "load_reading_list", "presentation_rounds"]
