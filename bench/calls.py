"""Recording the IAM calls a boto3 client makes, with botocore's event hooks.

One :class:`CallRecorder` hooks three events of one client:

* ``provide-client-params.iam`` (once per API call, before parameter
  validation and serialisation): the call starts, and its RoleName is known;
* ``after-call.iam`` (the call got an HTTP answer, error answers included);
* ``after-call-error.iam`` (it got none, e.g. a connection that never opened).

Retries happen between the first and the last of these, so a throttled call
counts once and its retries count as time spent in IAM. The recorder is
thread-safe: the function works on the three roles in three threads.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

_STARTED = "bench.started"
_ROLE = "bench.role"


@dataclass(frozen=True)
class IamCall:
    """One IAM API call: what, on which role, when (``time.monotonic``), and how it ended."""

    action: str
    role: str | None
    started: float
    ended: float
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IamCall:
        return cls(**data)


class CallRecorder:
    """Every IAM call a client makes while the recorder is attached."""

    def __init__(self, client: Any) -> None:
        self._lock = threading.Lock()
        self._calls: list[IamCall] = []
        events = client.meta.events
        events.register("provide-client-params.iam", self._on_start, unique_id="bench-start")
        events.register("after-call.iam", self._on_answer, unique_id="bench-answer")
        events.register("after-call-error.iam", self._on_failure, unique_id="bench-failure")

    def _on_start(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = time.monotonic()
        role = params.get("RoleName")
        context[_ROLE] = role if isinstance(role, str) else None

    def _finish(self, model: Any, context: dict[str, Any], error: str | None) -> None:
        call = IamCall(
            action=str(model.name),
            role=context.get(_ROLE),
            started=float(context.get(_STARTED, time.monotonic())),
            ended=time.monotonic(),
            error=error,
        )
        with self._lock:
            self._calls.append(call)

    def _on_answer(
        self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        self._finish(model, context, str(code) if code else None)

    def _on_failure(
        self, model: Any, context: dict[str, Any], exception: Exception, **_: Any
    ) -> None:
        self._finish(model, context, type(exception).__name__)

    def take(self) -> list[IamCall]:
        """The calls recorded since the last take, in the order they started."""
        with self._lock:
            calls, self._calls = self._calls, []
        return sorted(calls, key=lambda call: call.started)


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
    """Time during which at least one IAM call was in flight (the union of the intervals)."""
    total = 0.0
    end = float("-inf")
    for call in sorted(calls, key=lambda c: c.started):
        if call.started >= end:
            total += call.ended - call.started
            end = call.ended
        elif call.ended > end:
            total += call.ended - end
            end = call.ended
    return total
