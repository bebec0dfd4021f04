"""`--help` of the kit and of every command: the kit's description names every command, every command
has a description, and every option and argument says what it is for."""
from __future__ import annotations

import argparse

import pytest

from course_lib.commands import COMMANDS, build_parser
from course_lib.commands.schedule import _build_parser as schedule_parser


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return {**sub.choices, "schedule": schedule_parser()}  # schedule parses its own arguments


def test_the_kit_description_names_every_command():
    description = build_parser().description
    missing = [name.replace("_", "-") for name in COMMANDS if name.replace("_", "-") not in description]
    assert missing == [], f"python -m course_lib --help does not name {missing}"


def silent_options(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    """Options and arguments of `parser`, and of its own subcommands (`index build`), without help text."""
    silent = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                silent += silent_options(child, f"{prefix} {name}")
        if not action.help and action.help is not argparse.SUPPRESS:
            silent.append(f"{prefix} {action.option_strings[0] if action.option_strings else action.dest}")
    return silent


@pytest.mark.parametrize("name", [name.replace("_", "-") for name in COMMANDS])
def test_every_command_and_option_says_what_it_is_for(name):
    parser = command_parsers()[name]
    assert parser.description, f"{name} has no description"
    assert silent_options(parser, name) == []
