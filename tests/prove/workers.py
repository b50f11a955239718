"""Lambda execution environments in worker processes, for real concurrency.

Lambda runs one invocation at a time per execution environment, and many
environments side by side. :class:`Environments` is a pool of spawned
processes, each a cold start of ``app`` with the environment a deployed
function would see (``AWS_ENDPOINT_URL_IAM`` pointing at a moto_server,
``POWERTOOLS_LOG_LEVEL``), each running one request at a time.

Inside a worker every invocation runs under the worker's own
:data:`~tests.prove.evidence.EVIDENCE`, whose record travels back with the
result; and the worker's file descriptors 1 and 2 go to a file, so even what
bypasses logging is kept for the clean-log check.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.prove.evidence import EVIDENCE, Invocation

_APP: Any = None


@dataclass(frozen=True)
class Result:
    invocation: Invocation
    seconds: float
    error: str | None


def _start(environment: dict[str, str], folder: str) -> None:
    """Worker initialiser: capture fds 1 and 2, then cold-start the function."""
    global _APP
    log = os.open(Path(folder) / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(environment)
    import app

    _APP = app


def _invoke(event: dict[str, Any], timeout_seconds: float, source: str) -> Result:
    from tools.stack import FakeContext

    error: str | None = None
    started = time.monotonic()
    with EVIDENCE.invocation(_APP.IAM, event, source) as seen:
        try:
            _APP.lambda_handler(event, FakeContext(timeout_seconds))
        except BaseException as raised:
            error = repr(raised)
    sys.stdout.flush()
    return Result(seen, time.monotonic() - started, error)


class Environments:
    """``size`` execution environments of the function; use as a context manager."""

    def __init__(self, size: int, environment: dict[str, str]) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="prove-workers-")
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(
            size, initializer=_start, initargs=(environment, self._folder.name)
        )

    def run(
        self, events: list[dict[str, Any]], source: str, timeout_seconds: float = 120.0
    ) -> list[Result]:
        """Send all events at once; wait for every result."""
        pending = [
            self._pool.apply_async(_invoke, (event, timeout_seconds, source)) for event in events
        ]
        results = [p.get(timeout=timeout_seconds + 30) for p in pending]
        EVIDENCE.add([r.invocation for r in results])
        return results

    def output(self) -> list[str]:
        """Every line the workers wrote to their stdout and stderr so far."""
        lines: list[str] = []
        for path in sorted(Path(self._folder.name).glob("worker-*.log")):
            lines += [line for line in path.read_text(errors="replace").splitlines() if line]
        return lines

    def __enter__(self) -> Environments:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pool.terminate()
        self._pool.join()
        self._folder.cleanup()
