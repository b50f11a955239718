"""What a command found, and how it is shown: rich tables for people, JSON for scripts.

Every command builds a :class:`Report` (tables, the same facts as JSON, and
the problems that make the exit status 1); this module is the only one that
prints results. Progress goes to stderr through :class:`Progress`, so stdout
stays clean for ``--output json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

#: Width used when stdout is not a terminal (a pipe, a file, CI logs), where
#: rich would otherwise wrap every ARN at 80 columns.
PIPE_WIDTH = 200


@dataclass
class Section:
    """One table."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    #: Shown instead of the table when it has no rows.
    empty: str = "Nothing to show."


@dataclass
class Report:
    """The outcome of one command."""

    command: str
    sections: list[Section]
    #: The same facts for --output json.
    data: dict[str, Any]
    #: Each one a sentence; any of them makes the exit status 1.
    problems: list[str] = field(default_factory=list)
    #: Sentences worth reading that are not problems.
    notes: list[str] = field(default_factory=list)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def render_json(report: Report, out: TextIO) -> None:
    payload = {
        "command": report.command,
        **report.data,
        "notes": report.notes,
        "problems": report.problems,
    }
    out.write(json.dumps(payload, indent=2, default=_json_default) + "\n")


def _console(out: TextIO) -> Console:
    console = Console(file=out, highlight=False)
    if not console.is_terminal:
        console = Console(file=out, highlight=False, width=PIPE_WIDTH, no_color=True)
    return console


def render_table(report: Report, out: TextIO) -> None:
    console = _console(out)
    for section in report.sections:
        if not section.rows:
            console.print(f"[bold]{section.title}[/bold]: {section.empty}", markup=True)
            console.print()
            continue
        table = Table(title=section.title, title_justify="left", box=box.SIMPLE_HEAD)
        for column in section.columns:
            table.add_column(column, overflow="fold")
        for row in section.rows:
            table.add_row(*row)
        console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", markup=False)
    for problem in report.problems:
        console.print(f"problem: {problem}", markup=False)
    count = len(report.problems)
    summary = "no problems found" if not count else f"{count} problem{'s' * (count > 1)} found"
    console.print(f"{report.command}: {summary}.", markup=False)


class Progress:
    """Tells a person on stderr what a slow command is doing: a spinner with a message.

    Only on a terminal (``live=None`` asks stderr whether it is one): in a pipe or
    a CI log, lines of progress would only bury the result. Nothing when quiet.
    """

    def __init__(
        self, quiet: bool = False, err: TextIO | None = None, live: bool | None = None
    ) -> None:
        self._console = Console(file=err or sys.stderr, highlight=False, force_terminal=live)
        self._live = not quiet and self._console.is_terminal

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        if not self._live:
            yield
            return
        with self._console.status(message):
            yield
