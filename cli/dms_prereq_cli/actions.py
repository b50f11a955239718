"""Which IAM actions a set of policy documents grants, at the level of action names.

Good enough to spot the drift the DMS guide warns about (a hand-made copy of
an AWS managed policy that lacks an action AWS added later). Resources and
conditions are not compared: a statement counts if it names the action.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from dms_prereq.trust import as_list, statements


@cache
def _pattern(action: str) -> re.Pattern[str]:
    """IAM action wildcards: ``*`` any run of characters, ``?`` one; case-insensitive."""
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in action)
    return re.compile("".join(parts), re.IGNORECASE)


def matches(pattern: str, action: str) -> bool:
    """Whether a policy's action ``pattern`` covers ``action`` (itself maybe a wildcard).

    ``s3:*`` covers ``s3:Get*``; ``s3:GetObject`` does not: we only claim
    coverage we can prove.
    """
    return _pattern(str(pattern)).fullmatch(action) is not None


def allowed_actions(document: dict[str, Any]) -> list[str]:
    """The actions an AWS managed policy's Allow statements name, in document order."""
    found: list[str] = []
    for statement in statements(document):
        if statement.get("Effect") == "Allow":
            found.extend(str(a) for a in as_list(statement.get("Action")) if str(a) not in found)
    return found


def _grants(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(matches(p, action) for p in as_list(statement["NotAction"]))
    return any(matches(p, action) for p in as_list(statement.get("Action")))


def granted(documents: Iterable[dict[str, Any]], action: str) -> bool:
    """Allowed by some statement and not denied outright (an unconditional Deny)."""
    every = [s for document in documents for s in statements(document)]
    denied = any(
        s.get("Effect") == "Deny" and not s.get("Condition") and _grants(s, action) for s in every
    )
    return not denied and any(s.get("Effect") == "Allow" and _grants(s, action) for s in every)


def lacking(required: Iterable[str], documents: Iterable[dict[str, Any]]) -> list[str]:
    """The ``required`` actions that ``documents`` do not grant."""
    documents = list(documents)
    return [action for action in required if not granted(documents, action)]
