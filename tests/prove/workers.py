"""Lambda execution environments in worker processes, for real concurrency.

Lambda runs one invocation at a time per execution environment, and many
environments side by side. :class:`Environments` is a pool of spawned
processes, each a cold start of ``app`` with the environment a deployed
function would see (``AWS_ENDPOINT_URL_IAM`` pointing at a moto_server, the
other stand-ins' endpoints, the deployment's settings, ``POWERTOOLS_LOG_LEVEL``),
each running one request at a time.

Inside a worker every invocation runs under the worker's own
:data:`~testkit.evidence.EVIDENCE`, whose record travels back with the
result, with what the handler returned (the sweep's summary); and the
worker's file descriptors 1 and 2 go to a file, so even what bypasses
logging is kept for the clean-log check.

:meth:`Environments.start` sends events without waiting, so that a test can
do something else (another request, in its own process) while they run.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

from testkit.evidence import EVIDENCE, Invocation, RecordingClients
from testkit.invoke import InProcessFunction, load_app

_FUNCTION: InProcessFunction | None = None


@dataclass(frozen=True)
class Result:
    invocation: Invocation
    seconds: float
    error: str | None
    #: What the handler returned (a sweep's summary; None for a CloudFormation request).
    value: Any = None


def _start(environment: dict[str, str], folder: str) -> None:
    """Worker initialiser: capture fds 1 and 2, then cold-start the function, which
    builds its IAM client from ``environment`` as it does in Lambda."""
    global _FUNCTION
    log = os.open(Path(folder) / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(environment)
    _FUNCTION = InProcessFunction()
    # The worker's CloudFormation, DMS and EC2 calls (the request check, the sweep) are
    # recorded with its IAM calls, for the least-privilege check.
    load_app().CLIENTS = RecordingClients()


def _invoke(event: dict[str, Any], timeout_seconds: float, source: str) -> Result:
    assert _FUNCTION is not None, "the worker was not started"
    with EVIDENCE.invocation(_FUNCTION.client, event, source) as seen:
        done = _FUNCTION.run(event, timeout_seconds)
    sys.stdout.flush()
    error = repr(done.error) if done.error is not None else None
    return Result(seen, done.seconds, error, done.value)


class Batch:
    """Events sent to the environments and not yet waited for."""

    def __init__(self, pending: list[AsyncResult[Result]], timeout_seconds: float) -> None:
        self._pending = pending
        self._timeout = timeout_seconds

    def wait(self) -> list[Result]:
        """Every result, in the order the events were given."""
        results = [p.get(timeout=self._timeout + 30) for p in self._pending]
        EVIDENCE.add([r.invocation for r in results])
        return results


class Environments:
    """``size`` execution environments of the function; use as a context manager."""

    def __init__(self, size: int, environment: dict[str, str]) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="prove-workers-")
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(
            size, initializer=_start, initargs=(environment, self._folder.name)
        )

    def start(
        self, events: list[dict[str, Any]], source: str, timeout_seconds: float = 120.0
    ) -> Batch:
        """Send all events at once; :meth:`Batch.wait` for the results."""
        pending = [
            self._pool.apply_async(_invoke, (event, timeout_seconds, source)) for event in events
        ]
        return Batch(pending, timeout_seconds)

    def run(
        self, events: list[dict[str, Any]], source: str, timeout_seconds: float = 120.0
    ) -> list[Result]:
        """Send all events at once; wait for every result."""
        return self.start(events, source, timeout_seconds).wait()

    def output(self) -> list[str]:
        """Every line the workers wrote to their stdout and stderr so far."""
        lines: list[str] = []
        for path in sorted(Path(self._folder.name).glob("worker-*.log")):
            lines += [line for line in path.read_text(errors="replace").splitlines() if line]
        return lines

    def __enter__(self) -> Environments:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.terminate()
        self._pool.join()
        self._folder.cleanup()
