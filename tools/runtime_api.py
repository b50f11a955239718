"""The Lambda Runtime API on loopback, as far as awslambdaric uses it.

``GET /2018-06-01/runtime/invocation/next`` hands the runtime the queued event
with Lambda's headers (request id, deadline, function ARN, trace id);
``POST …/invocation/{id}/response`` and ``…/error`` take its answer;
``POST …/init/error`` takes an init failure. The server and its caller
(:class:`tools.lambda_runtime.LocalLambda`) share one :class:`Mailbox` per
runtime process, under one condition variable: the caller queues a
:class:`Pending` event and waits; the handler threads deliver it and record
what the runtime answered, and when.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

API = "/2018-06-01/runtime"
_RESULT_PATH = re.compile(rf"^{API}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")


class Outcome(StrEnum):
    """How an invocation ended, in Lambda's terms."""

    SUCCESS = "success"  # the handler returned
    ERROR = "error"  # the handler raised: a function error
    TIMEOUT = "timeout"  # killed at the deadline ("Task timed out")
    INIT_ERROR = "init_error"  # the handler module failed to load; the event never reached it
    CRASH = "crash"  # the runtime process exited ("Runtime exited with error")
    OUT_OF_MEMORY = "out_of_memory"  # killed past MemorySize


def error_object(error_type: str, message: str) -> dict[str, str]:
    """The error payload Lambda reports for a failed invocation."""
    return {"errorType": error_type, "errorMessage": message}


@dataclass
class Pending:
    """The event being invoked, and what the runtime did with it (times: time.monotonic())."""

    request_id: str
    body: bytes
    timeout_seconds: float
    queued_at: float = field(default_factory=time.monotonic)
    delivered_at: float | None = None
    deadline: float | None = None
    #: Size of the runtime's log when the event was delivered: the invocation's output follows.
    log_offset: int = 0
    finished_at: float | None = None
    outcome: Outcome | None = None
    payload: Any = None


@dataclass
class Mailbox:
    """What one runtime process and LocalLambda exchange, under one condition variable."""

    log_path: Path
    cond: threading.Condition = field(default_factory=threading.Condition)
    pending: Pending | None = None
    #: When the process first asked for an event: its init is done.
    ready_at: float | None = None
    #: The process is blocked in GET /next (it finished everything before it).
    idle: bool = False
    init_error: Any = None
    init_error_at: float | None = None
    closed: bool = False

    def close(self) -> None:
        """Release a runtime still waiting for an event (its process is being replaced)."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class RuntimeApi:
    """The Runtime API of one function on 127.0.0.1, served from a daemon thread."""

    def __init__(self, function_arn: str, log_path: Path) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.function_arn = function_arn
        self._server.mailbox = Mailbox(log_path)
        threading.Thread(
            target=self._server.serve_forever, name="lambda-runtime-api", daemon=True
        ).start()

    @property
    def address(self) -> str:
        """``host:port``, as AWS_LAMBDA_RUNTIME_API gives it to the runtime."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def mailbox(self) -> Mailbox:
        return self._server.mailbox

    def fresh_mailbox(self) -> Mailbox:
        """A new mailbox for a new runtime process; the old one's waiting GET is let go."""
        old = self._server.mailbox
        old.close()
        self._server.mailbox = Mailbox(old.log_path)
        return self._server.mailbox

    def close(self) -> None:
        self._server.mailbox.close()
        self._server.shutdown()
        self._server.server_close()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    mailbox: Mailbox
    function_arn: str


class _Handler(http.server.BaseHTTPRequestHandler):
    """One request of the runtime client to the Runtime API."""

    # HTTP/1.1: keep-alive and Expect: 100-continue, as the runtime client's curl expects.
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        if self.path != f"{API}/invocation/next":
            self._reply(404, {"errorMessage": "Not found", "errorType": "NotFound"})
            return
        mailbox = self.server.mailbox
        with mailbox.cond:
            now = time.monotonic()
            mailbox.ready_at = mailbox.ready_at or now
            mailbox.idle = True
            mailbox.cond.notify_all()
            while not mailbox.closed and (
                mailbox.pending is None or mailbox.pending.delivered_at is not None
            ):
                mailbox.cond.wait()
            if mailbox.closed:
                return
            pending = mailbox.pending
            assert pending is not None  # noqa: S101 - the loop above waits for it
            pending.delivered_at = time.monotonic()
            pending.deadline = pending.delivered_at + pending.timeout_seconds
            pending.log_offset = mailbox.log_path.stat().st_size
            mailbox.idle = False
        # The deadline header is wall-clock epoch milliseconds, as Lambda sends it.
        deadline_ms = int((time.time() + pending.timeout_seconds) * 1000)
        trace = (
            f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
            f"Parent={uuid.uuid4().hex[:16]};Sampled=0"
        )
        self._reply(
            200,
            pending.body,
            {
                "Lambda-Runtime-Aws-Request-Id": pending.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": self.server.function_arn,
                "Lambda-Runtime-Trace-Id": trace,
            },
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mailbox = self.server.mailbox
        if self.path == f"{API}/init/error":
            with mailbox.cond:
                mailbox.init_error = _decoded(body)
                mailbox.init_error_at = time.monotonic()
                mailbox.cond.notify_all()
            self._reply(202, {"status": "OK"})
            return
        match = _RESULT_PATH.match(self.path)
        if not match:
            self._reply(404, {"errorMessage": "Not found", "errorType": "NotFound"})
            return
        with mailbox.cond:
            pending = mailbox.pending
            # Lambda takes one answer per request id, and only for the event in flight.
            accepted = not (pending is None or pending.request_id != match["id"] or pending.outcome)
            if accepted and pending is not None:
                pending.finished_at = time.monotonic()
                pending.outcome = Outcome.SUCCESS if match["kind"] == "response" else Outcome.ERROR
                pending.payload = _decoded(body)
                mailbox.cond.notify_all()
        if accepted:
            self._reply(202, {"status": "OK"})
        else:
            self._reply(
                400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
            )

    def _reply(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the runtime's own log is the only log


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
