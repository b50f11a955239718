"""What the bench makes of the IAM calls an invocation made.

The calls are recorded by :class:`testkit.calls.CallRecorder` (once per API
call, retries inside it), in this process or in a cold one
(bench/fresh_invoke.py); these functions count them per role, list them, and
measure the time during which IAM was busy.
"""

from __future__ import annotations

from collections import Counter

from testkit.calls import IamCall


def per_role(calls: list[IamCall]) -> dict[str, int]:
    """Number of calls on each role (calls naming no role under ``"-"``)."""
    return dict(Counter(call.role or "-" for call in calls))


def actions(calls: list[IamCall]) -> dict[str, list[str]]:
    """For each role, its calls in order, failed ones marked: ``CreateRole!EntityAlreadyExists``."""
    listed: dict[str, list[str]] = {}
    for call in calls:
        label = call.action + (f"!{call.error}" if call.error else "")
        listed.setdefault(call.role or "-", []).append(label)
    return listed


def busy_seconds(calls: list[IamCall]) -> float:
    """Time during which at least one IAM call was in flight (the union of the intervals).

    A call that never got an answer (botocore stopped it unsent) kept IAM busy for no time.
    """
    total = 0.0
    end = float("-inf")
    for started, ended in sorted(
        (c.started, c.started if c.ended is None else c.ended) for c in calls
    ):
        if started >= end:
            total += ended - started
            end = ended
        elif ended > end:
            total += ended - end
            end = ended
    return total
