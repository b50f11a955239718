"""Calling the function's entry point directly: the one in-process invoker.

:class:`InProcessFunction` imports handler/app.py once per process, as a warm
Lambda execution environment holds it, and calls ``lambda_handler`` with a
:class:`FakeContext` whose deadline is the invocation's timeout. The suites
give it moto's IAM client and a sleep that only records; the bench and the
race workers let the function build its own client from the environment.

``python -m testkit.invoke --timeout 60 < events/create.json`` makes one
invocation in a fresh interpreter (a cold start); :func:`invoke_in_fresh_process`
starts one and reads back what the handler returned (``--result FILE``).
``make invoke`` runs the built artifact under the Lambda runtime instead
(tools/lambda_runtime.py).

This module imports nothing but the standard library, so a process that
imports it after ``app`` (bench/fresh_invoke.py) still measures the
function's own memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parent.parent
HANDLER_DIR = ROOT / "handler"

#: Wraps one invocation, given the IAM client the function uses and the event;
#: what it yields comes back as :attr:`Run.observed` (e.g. ``EVIDENCE.invocation``).
Observe = Callable[[Any, Any], AbstractContextManager[Any]]


class FakeContext:
    """The parts of the Lambda context object the function uses."""

    def __init__(self, timeout_seconds: float = 300.0, function_name: str = "dms-prereq") -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 128
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_app() -> Any:
    """handler/app.py, imported once per process (typed Any: tests rewire its globals).

    A process that already imported ``app`` from elsewhere (the built artifact,
    by PYTHONPATH) keeps that one: handler/ is only put on the path when needed.
    """
    if "app" not in sys.modules and str(HANDLER_DIR) not in sys.path:
        sys.path.insert(0, str(HANDLER_DIR))
    import app

    return app


@dataclass(frozen=True)
class Run:
    """One invocation, as the process that made it saw it."""

    #: ``time.monotonic()`` as the handler was entered and as it returned.
    entered: float
    returned: float
    #: What the handler raised (the Lambda runtime would report it), or None.
    error: BaseException | None
    #: What the ``observe`` wrapper yielded, if there was one.
    observed: Any = None
    #: What the handler returned (the sweep's summary; None for a CloudFormation request).
    value: Any = None

    @property
    def seconds(self) -> float:
        return self.returned - self.entered


class InProcessFunction:
    """``app.lambda_handler``, called in this process; use it as a SimulatedStack's ``invoke``.

    Before each invocation the function gets ``client`` as its IAM client and,
    when given, ``sleep`` as its sleep: several instances can share the one
    ``app`` module of the process, each with its own IAM, and ``client`` may be
    changed between invocations. Without a client the function keeps the one
    it built at import, from the environment, as it does in Lambda.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        sleep: Callable[[float], None] | None = None,
        observe: Observe | None = None,
    ) -> None:
        self._app = load_app()
        self.client: Any = client if client is not None else self._app.IAM
        self.sleep = sleep
        self._observe = observe

    def run(self, event: Any, timeout_seconds: float = 300.0) -> Run:
        """Invoke once and report; never raises for what the function does."""
        self._app.IAM = self.client
        if self.sleep is not None:
            self._app.sleep = self.sleep
        observing = self._observe(self.client, event) if self._observe else nullcontext()
        error: BaseException | None = None
        value: Any = None
        with observing as observed:
            entered = time.monotonic()
            try:
                value = self._app.lambda_handler(event, FakeContext(timeout_seconds))
            except BaseException as raised:
                error = raised
            returned = time.monotonic()
        return Run(entered, returned, error, observed, value)

    def __call__(self, event: dict[str, Any], timeout_seconds: float = 300.0) -> Any:
        """Invoke once and return what the handler returned; what it raises is raised here."""
        run = self.run(event, timeout_seconds)
        if run.error is not None:
            raise run.error
        return run.value


@dataclass(frozen=True)
class FreshRun:
    """One invocation in a new interpreter: its logs, and what the handler returned."""

    logs: str
    value: Any


def invoke_in_fresh_process(
    event: dict[str, Any], env: dict[str, str], timeout: float = 60
) -> FreshRun:
    """Invoke the entry point on ``event`` in a new interpreter (a cold start).

    ``env`` is laid over this process's environment (endpoints, CA file);
    AWS_SAM_LOCAL is dropped so the answer really travels.
    """
    full_env = {**os.environ, **env}
    full_env.pop("AWS_SAM_LOCAL", None)
    with tempfile.TemporaryDirectory(prefix="fresh-invoke-") as scratch:
        # A file, not stdout: the function's own JSON log lines go to stdout.
        result = Path(scratch) / "returned.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "testkit.invoke",
                "--timeout",
                str(timeout),
                "--result",
                str(result),
            ],
            input=json.dumps(event),
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=full_env,
            timeout=timeout + 30,
            check=True,
        )
        return FreshRun(done.stdout + done.stderr, json.loads(result.read_text()))


def run_in_fresh_process(event: dict[str, Any], env: dict[str, str], timeout: float = 60) -> str:
    """:func:`invoke_in_fresh_process`, for its logs alone."""
    return invoke_in_fresh_process(event, env, timeout).logs


def main() -> int:
    """One invocation of the event on stdin; what the handler raises ends the process."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=360.0, help="seconds until the deadline")
    parser.add_argument("--result", type=Path, help="write what the handler returned here (JSON)")
    args = parser.parse_args()
    value = InProcessFunction()(json.load(sys.stdin), args.timeout)
    if args.result is not None:
        args.result.write_text(json.dumps(value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
