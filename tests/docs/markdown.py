"""What a reader copies out of the docs: fenced code blocks and the command lines in them.

The docs are README.md and every page of docs/. A command line is a simple
command (split at ``&&``, ``||``, ``;`` and ``|``) whose program is one this
project documents: ``make``, ``sam``, ``dms-prereq-roles`` (also as
``.venv/bin/dms-prereq-roles``) or ``python -m dms_prereq_cli``. They are found
in shell blocks (every line), after a ``$`` prompt in ``text``/``console``
blocks, and in inline code in the prose; a bare program name (`` `make` ``) is
a name, not a command line.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Every page a reader follows from the README.
PAGES: tuple[Path, ...] = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
PROGRAMS = ("make", "sam", "dms-prereq-roles")
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "zsh"})
#: Blocks whose commands carry a "$ " prompt, followed by their output.
SESSION_LANGUAGES = frozenset({"text", "console", "shell-session", ""})

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Fence:
    """One fenced code block."""

    path: Path
    #: Line number of the opening fence (1-based).
    line: int
    #: The first word of the info string (``yaml``, ``sh``...), lower case.
    language: str
    #: The rest of the info string (``syntax`` in ```` ```yaml syntax ````).
    label: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class CommandLine:
    """One documented simple command, as written (whitespace collapsed)."""

    text: str
    where: str

    @property
    def program(self) -> str:
        return program_of(self.text) or ""


def fences(path: Path) -> list[Fence]:
    found: list[Fence] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence = opening.group("fence")
        info = opening.group("info").strip().split(maxsplit=1)
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            body.append(lines[end])
            end += 1
        found.append(
            Fence(
                path=path,
                line=index + 1,
                language=info[0].lower() if info else "",
                label=info[1] if len(info) > 1 else "",
                text="\n".join(body) + "\n",
            )
        )
        index = end + 1
    return found


def all_fences() -> list[Fence]:
    return [fence for page in PAGES for fence in fences(page)]


def _prose(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of every line outside fenced blocks."""
    inside: str | None = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        opening = _FENCE.match(line)
        if inside is None and opening:
            inside = opening.group("fence")
        elif inside is not None and line.strip().startswith(inside):
            inside = None
        elif inside is None:
            yield number, line


def split_simple_commands(line: str) -> list[str]:
    """``a && b | c; d`` -> ``["a", "b", "c", "d"]``, leaving quoted text alone."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif line.startswith(("&&", "||"), index):
            parts.append("".join(current))
            current = []
            index += 2
            continue
        elif char in ";|":
            parts.append("".join(current))
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    parts.append("".join(current))
    return [" ".join(part.split()) for part in parts if part.strip()]


def _tokens(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def program_of(command: str) -> str | None:
    """The documented program a simple command runs, past ``VAR=value`` prefixes; else None."""
    words = [w for w in _tokens(command)]
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)
    if not words:
        return None
    name = words[0].rsplit("/", 1)[-1]
    if name in PROGRAMS:
        return name
    if name in ("python", "python3") and words[1:3] == ["-m", "dms_prereq_cli"]:
        return "dms-prereq-roles"
    return None


def _strip_comment(line: str) -> str:
    """A shell line without its trailing ``# comment`` (a # after whitespace, outside quotes)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def _shell_lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) of each logical line: continuations joined, comments removed."""
    pending: list[str] = []
    start = 0
    for offset, raw in enumerate(text.splitlines()):
        if not pending:
            start = offset
        line = _strip_comment(raw)
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, " ".join(pending)
        pending = []
    if pending:
        yield start, " ".join(pending)


def _commands_in(text: str, where: str) -> Iterator[CommandLine]:
    for part in split_simple_commands(text):
        if program_of(part):
            yield CommandLine(part, where)


def session_commands(fence: Fence) -> Iterator[tuple[int, str, list[str]]]:
    """(offset, command, output lines) of each ``$ command`` in a session block."""
    lines = fence.text.splitlines()
    for offset, line in enumerate(lines):
        if line.startswith("$ "):
            output = []
            for after in lines[offset + 1 :]:
                if after.startswith("$ "):
                    break
                output.append(after)
            yield offset, line[2:], output


def command_lines() -> list[CommandLine]:
    """Every documented command line, in reading order (repeats included)."""
    found: list[CommandLine] = []
    for page in PAGES:
        for fence in fences(page):
            if fence.language in SHELL_LANGUAGES:
                for offset, line in _shell_lines(fence.text):
                    where = f"{fence.path.relative_to(ROOT)}:{fence.line + 1 + offset}"
                    found.extend(_commands_in(line, where))
            elif fence.language in SESSION_LANGUAGES:
                for offset, command, _ in session_commands(fence):
                    where = f"{fence.path.relative_to(ROOT)}:{fence.line + 1 + offset}"
                    found.extend(_commands_in(_strip_comment(command), where))
        for number, line in _prose(page):
            for span in _INLINE_CODE.findall(line):
                if len(_tokens(span)) < 2:
                    continue  # a program's name, not a command line
                found.extend(_commands_in(span, f"{page.relative_to(ROOT)}:{number}"))
    return found


def unique_commands() -> dict[str, list[str]]:
    """Each distinct command line, with every place it is written."""
    found: dict[str, list[str]] = {}
    for command in command_lines():
        found.setdefault(command.text, []).append(command.where)
    return found
