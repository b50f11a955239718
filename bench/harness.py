"""Running the function for the bench: warm in this process, or cold in a fresh one.

Both kinds plug into :class:`testkit.stack.SimulatedStack` as its ``invoke``, so
requests come from ``events/*.json`` exactly as the tests and the demo build
them, and answers travel over HTTPS to the CloudFormation stand-in, which
notes when each arrived. :func:`serve` pairs that arrival with the moment the
handler was entered and the IAM calls it made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from bench.calls import busy_seconds
from testkit import REGION
from testkit.calls import CallRecorder, IamCall
from testkit.invoke import InProcessFunction, load_app
from testkit.local_aws import CloudFormationStandIn
from testkit.stack import SimulatedStack

REPO = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """The function did not do what the bench asked of it."""


@dataclass(frozen=True)
class Trace:
    """What one invocation did, seen from inside the process that ran it."""

    entered: float
    calls: list[IamCall]
    peak_rss_kb: int | None = None
    import_s: float | None = None
    #: What the handler returned (the sweep's summary), and when; warm invocations only.
    value: Any = None
    returned: float | None = None
    #: The request check's CloudFormation calls (warm invocations, the stacks' region).
    cfn_calls: list[IamCall] = field(default_factory=list)


@dataclass(frozen=True)
class Served:
    """One request, from handler entry to its answer's arrival at the stand-in."""

    body: dict[str, Any]
    entered: float
    arrived: float
    calls: list[IamCall]
    peak_rss_kb: int | None
    import_s: float | None
    #: The request check's CloudFormation calls, when they were recorded (warm).
    cfn_calls: list[IamCall] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return self.arrived - self.entered

    @property
    def iam_busy_s(self) -> float:
        return busy_seconds(self.calls)

    @property
    def overhead_s(self) -> float:
        """Time to the answer's arrival during which no IAM call was in flight.

        The request check (CloudFormation's DescribeStackResource) is part of it.
        """
        return self.wall_s - self.iam_busy_s

    @property
    def check_s(self) -> float:
        """Time in the request check's CloudFormation calls (0 when not recorded)."""
        return busy_seconds(self.cfn_calls)


@contextmanager
def _stdout_discarded() -> Iterator[None]:
    """Send file descriptor 1 (the function's JSON logs) to /dev/null for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(sink)
        os.close(saved)


class WarmFunction:
    """``app.lambda_handler`` imported once in this process: a warm Lambda container.

    The environment must already point boto3 at IAM and trust the stand-in.
    Every wait the function asks for really happens, and is noted in ``sleeps``.
    """

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._function = InProcessFunction(sleep=self._sleep)
        self._recorder = CallRecorder(self.client)
        self._checks = CallRecorder(
            self.client_for("cloudformation", REGION), service="cloudformation"
        )
        self.last: Trace | None = None

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)

    @property
    def client(self) -> Any:
        """The function's IAM client."""
        return self._function.client

    def client_for(self, service: str, region: str) -> Any:
        """The function's own client of another service (made now if it has none yet)."""
        return load_app().CLIENTS.for_region(service, region)

    def restart(self) -> None:
        """A new IAM client, as a new container would have: nothing learnt from earlier calls."""
        from dms_prereq.clients import client_config

        self._function.client = boto3.client("iam", config=client_config())
        self._recorder = CallRecorder(self.client)

    def __call__(self, event: dict[str, Any]) -> None:
        self._recorder.take()
        self._checks.take()
        with _stdout_discarded():
            run = self._function.run(event)
        if run.error is not None:
            raise run.error
        self.last = Trace(
            run.entered,
            self._recorder.take(),
            value=run.value,
            returned=run.returned,
            cfn_calls=self._checks.take(),
        )


class ColdFunction:
    """Each request in a fresh interpreter importing ``app`` from ``artifact`` (a cold start)."""

    def __init__(self, python: str, artifact: Path, env: dict[str, str], scratch: Path) -> None:
        self._python = python
        self._scratch = scratch
        self._env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self._env.update(env)
        self._env.update(PYTHONPATH=str(artifact), PYTHONDONTWRITEBYTECODE="1")
        self.last: Trace | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        name = uuid.uuid4().hex
        event_file = self._scratch / f"{name}.event.json"
        result_file = self._scratch / f"{name}.result.json"
        event_file.write_text(json.dumps(event))
        finished = subprocess.run(  # noqa: S603 - our own interpreter and module
            [self._python, "-m", "bench.fresh_invoke", str(event_file), str(result_file)],
            env=self._env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            raise BenchError(f"fresh invocation failed:\n{finished.stderr[-2000:]}")
        result = json.loads(result_file.read_text())
        self.last = Trace(
            entered=float(result["entered"]),
            calls=[IamCall.from_json(c) for c in result["calls"]],
            peak_rss_kb=int(result["peak_rss_kb"]),
            import_s=float(result["import_s"]),
        )


Function = WarmFunction | ColdFunction


class AddedLatency:
    """A pause before every HTTP attempt of a client, standing in for the network.

    moto_server answers on loopback in a few milliseconds of CPU; real IAM is a
    remote service whose calls take tens of milliseconds, spent waiting. Sleeping
    in botocore's ``before-send`` releases the GIL exactly as that wait would.
    Any client takes it (the function's CloudFormation client pays it too).
    """

    def __init__(self) -> None:
        self.seconds = 0.0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send", self._pause, unique_id="bench-latency")

    def _pause(self, **_: Any) -> None:
        if self.seconds > 0:
            time.sleep(self.seconds)


def serve(
    stack: SimulatedStack,
    function: Function,
    cfn: CloudFormationStandIn,
    action: str,
    **properties: Any,
) -> Served:
    """``stack.create/update/delete(**properties)`` through ``function``; must answer SUCCESS."""
    stack.invoke = function
    if action == "create":
        body = stack.create(**properties)
    elif action == "update":
        body = stack.update(**properties)
    elif action == "delete":
        body = stack.delete()
    else:
        raise ValueError(f"unknown action {action!r}")
    if body["Status"] != "SUCCESS":
        raise BenchError(f"{action} of {stack.name} answered FAILED: {body['Reason']}")
    key = cfn.key_of(stack.history[-1]["request"]["ResponseURL"])
    trace = function.last
    if trace is None:
        raise BenchError("the function recorded no invocation")
    return Served(
        body=body,
        entered=trace.entered,
        arrived=cfn.arrivals(key)[0],
        calls=trace.calls,
        peak_rss_kb=trace.peak_rss_kb,
        import_s=trace.import_s,
        cfn_calls=trace.cfn_calls,
    )
