"""What the function did across the whole test session: its IAM calls and its log lines.

Every in-process invocation the suites make (tests/conftest.py's ``function``,
the proving suites' harness and their worker processes) runs inside
:meth:`Evidence.invocation`, which

* records each IAM call the function's client makes (action, role, policy ARN)
  with a :class:`~testkit.calls.CallRecorder`, once per API call and never
  for the calls tests make to inspect IAM; and each call of the function's other
  clients (CloudFormation for the request check and the sweep, DMS and EC2 for the
  sweep) once they are watched: :class:`RecordingClients`, put in place of
  ``app.CLIENTS``, watches every client the function makes;
* captures every line the function writes while it runs: the Powertools
  handler's stream, records that reach the root logger (where the Lambda
  runtime prints them) and anything printed to stdout or stderr.

The least-privilege test checks the calls against template.yaml and the
clean-log test scans the lines for secrets; both run last (tests/prove/conftest.py).
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

from dms_prereq.clients import Clients
from dms_prereq.errors import InvalidRequest
from dms_prereq.request import ResourceRef

from testkit import ACCOUNT
from testkit.calls import CallRecorder, IamCall

DEFAULT_PARTITION = "aws"
DEFAULT_ACCOUNT = ACCOUNT
#: Text that must never reach a log, whatever the request: parts of pre-signed URLs
#: and of signed AWS requests.
SECRET_PATTERNS = (
    re.compile(r"X-Amz-(Signature|Credential|Security-Token|SignedHeaders)", re.IGNORECASE),
    re.compile(r"AWS4-HMAC-SHA256"),
    re.compile(r"Authorization['\"]?\s*[:=]", re.IGNORECASE),
    re.compile(r"aws_secret_access_key|aws_session_token", re.IGNORECASE),
)
#: Credentials shorter than this (the "testing" placeholders) are too common to search for.
_MIN_SECRET_LENGTH = 12


@dataclass
class Invocation:
    """One call of the function: what it was given to keep secret, what it did and said.

    ``partition`` and ``account`` are the stack's: where each of its calls acts.
    """

    source: str
    secrets: tuple[str, ...]
    partition: str
    account: str
    calls: list[IamCall] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def secrets_of(event: object) -> tuple[str, ...]:
    """The strings of this request that no log line may contain.

    The ResponseURL's query string and each long query value (signature,
    credential, token), and the credentials in the environment.
    """
    found: list[str] = []
    url = event.get("ResponseURL") if isinstance(event, dict) else None
    if isinstance(url, str):
        query = urllib.parse.urlsplit(url).query
        if query:
            found.append(query)
            for _, value in urllib.parse.parse_qsl(query):
                if len(value) >= _MIN_SECRET_LENGTH:
                    found.append(value)
                    found.append(urllib.parse.quote(value, safe=""))
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        value = os.environ.get(name, "")
        if len(value) >= _MIN_SECRET_LENGTH:
            found.append(value)
    return tuple(dict.fromkeys(found))


def leaks(lines: list[str], secrets: tuple[str, ...]) -> list[str]:
    """Lines that give away a secret of the request or look like signed-request material."""
    bad = []
    for line in lines:
        if any(secret in line for secret in secrets) or any(
            pattern.search(line) for pattern in SECRET_PATTERNS
        ):
            bad.append(line)
    return bad


def _where(event: object) -> tuple[str, str]:
    if isinstance(event, dict):
        try:
            ref = ResourceRef.parse(event.get("StackId"), event.get("LogicalResourceId") or "x")
        except InvalidRequest:
            pass
        else:
            return ref.partition, ref.account
    return DEFAULT_PARTITION, DEFAULT_ACCOUNT


class _LineSink(io.TextIOBase):
    """A text stream that keeps what is written to it, line by line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: list[str] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._text.append(text)
        return len(text)

    def writable(self) -> bool:
        return True

    def lines(self) -> list[str]:
        with self._lock:
            return [line for line in "".join(self._text).splitlines() if line.strip()]


class _RootTap(logging.Handler):
    """Stands in for the Lambda runtime's root handler: every record that reaches root."""

    def __init__(self, sink: _LineSink) -> None:
        super().__init__(logging.NOTSET)
        self._sink = sink
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.write(self.format(record) + "\n")


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    found: dict[int, logging.StreamHandler[Any]] = {}
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, logging.StreamHandler) and not type(
                handler
            ).__module__.startswith("_pytest"):
                found[id(handler)] = handler
    return list(found.values())


@contextmanager
def capture_logs() -> Iterator[_LineSink]:
    """Everything the function writes while the block runs, as the Lambda runtime sees it."""
    sink = _LineSink()
    swapped = [(handler, handler.setStream(sink)) for handler in _stream_handlers()]
    tap = _RootTap(sink)
    logging.getLogger().addHandler(tap)
    try:
        with redirect_stdout(sink), redirect_stderr(sink):
            yield sink
    finally:
        logging.getLogger().removeHandler(tap)
        for handler, stream in swapped:
            if stream is not None:
                handler.setStream(stream)


class Evidence:
    """The session-wide record; use the module's :data:`EVIDENCE`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: Invocation | None = None
        self.invocations: list[Invocation] = []
        #: Figures the suites report (faults injected, histories run, ...).
        self.figures: Counter[str] = Counter()
        # One recorder per client, however many invocations it serves; it goes with the client.
        self._recorders: WeakKeyDictionary[Any, CallRecorder] = WeakKeyDictionary()
        #: Clients of the function besides the IAM client an invocation names.
        self._watched: WeakSet[Any] = WeakSet()

    @property
    def calls(self) -> list[IamCall]:
        """Every recorded call of the session, whatever the service."""
        with self._lock:
            return [call for inv in self.invocations for call in inv.calls]

    def watch(self, client: Any) -> None:
        """Record ``client``'s calls (any service) in every invocation observed from now on."""
        self._recorder(client)
        with self._lock:
            self._watched.add(client)

    def _recorders_for(self, client: Any) -> list[CallRecorder]:
        with self._lock:
            watched = list(self._watched)
        clients = [client, *(c for c in watched if c is not client)]
        return [self._recorder(c) for c in clients if c is not None]

    def count(self, figure: str, amount: int = 1) -> None:
        with self._lock:
            self.figures[figure] += amount

    def _recorder(self, client: Any) -> CallRecorder:
        with self._lock:
            if client not in self._recorders:
                self._recorders[client] = CallRecorder(client, service=None)
            return self._recorders[client]

    @contextmanager
    def invocation(self, client: Any, event: object, source: str) -> Iterator[Invocation]:
        """Run one invocation of the function under observation."""
        partition, account = _where(event)
        current = Invocation(source, secrets_of(event), partition, account)
        recorders = self._recorders_for(client)
        with self._lock:
            overlapping = self._active is not None
            if overlapping:
                # Another thread's invocation is being observed: capturing streams for two
                # at once could restore them out of order, so this one goes unobserved.
                self.figures["overlapping invocations not observed"] += 1
            else:
                self._active = current
        if overlapping:
            yield current
            return
        for recorder in recorders:
            recorder.take()  # the tests' own calls on these clients before the invocation
        try:
            with capture_logs() as sink:
                yield current
        finally:
            # Clients the function made meanwhile (watched from their creation) too.
            recorders = self._recorders_for(client)
            taken = [call for recorder in recorders for call in recorder.take()]
            with self._lock:
                self._active = None
                current.lines = sink.lines()
                current.calls = sorted(taken, key=lambda call: call.started)
                self.invocations.append(current)

    def add(self, invocations: list[Invocation]) -> None:
        """Invocations observed in another process (the race workers)."""
        with self._lock:
            self.invocations.extend(invocations)


EVIDENCE = Evidence()


class RecordingClients(Clients):
    """The function's client cache (``app.CLIENTS``), every client of it watched by
    :data:`EVIDENCE`: put one in place of ``app.CLIENTS`` (``load_app().CLIENTS = ...``),
    after the endpoints are in the environment, and the CloudFormation, DMS and EC2
    calls of each observed invocation are recorded with its IAM calls."""

    def for_region(self, service: str, region: str | None = None) -> Any:
        client = super().for_region(service, region)
        EVIDENCE.watch(client)
        return client
