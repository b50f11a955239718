"""A local AWS Lambda for the built artifact: the Runtime API on loopback, the real runtime client.

Runs ``.aws-sam/build/<Function>/`` the way the managed ``python3.13`` runtime
does, without Docker: a Lambda Runtime API server (:mod:`tools.runtime_api`)
on 127.0.0.1, and ``python -m awslambdaric <Handler>`` from ``.venv-runtime``
(Python 3.13, the runtime client and the SDK the managed runtime provides) in
a fresh environment holding the variables Lambda sets. Handler, memory size,
timeout, environment variables and log format come from the built template
(:mod:`tools.lambda_template`), as Lambda's come from the deployed one.

This module supervises the runtime process. Like Lambda, it starts the
runtime on the first invoke (a cold start, timed as Init Duration) and gives
that init phase its own limit (10 s); it delivers one event at a time with its
deadline (the Timeout, counted from delivery), kills the runtime when the
deadline passes or memory exceeds MemorySize (the next invoke is a cold start
again), and reports init errors, function errors and crashes. Each
:class:`Invocation` carries the outcome, the logs as CloudWatch would hold
them (START, the function's lines, END, REPORT) and the timings.

As SimulatedStack's ``invoke`` (see docs/local-runtime.md)::

    with local_aws() as aws, LocalLambda(env=aws.env()) as fn:
        stack = SimulatedStack("pipeline-a", invoke=fn.invoke, cfn=aws.cfn, api=aws.cfn_api)
        stack.create(CreateVpcRole="true")
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from testkit import ACCOUNT, REGION
from tools.lambda_template import BUILD_HINT, ROOT, FunctionConfig
from tools.runtime_api import Mailbox, Outcome, Pending, RuntimeApi, error_object

# What callers import from here: the local Lambda is this module.
__all__ = [
    "BUILD_HINT",
    "FUNCTION_NAME",
    "INIT_TIMEOUT_SECONDS",
    "ROOT",
    "RUNTIME_PYTHON",
    "FunctionConfig",
    "Invocation",
    "LocalLambda",
    "Outcome",
]

RUNTIME_PYTHON = ROOT / ".venv-runtime" / "bin" / "python"
#: Lambda gives an on-demand init phase 10 s before it resets the environment.
#: The limit covers init alone: a warm invoke is held to the Timeout only.
INIT_TIMEOUT_SECONDS = 10.0
#: How long to wait for the runtime to ask for the next event after answering,
#: so that everything it wrote for this invocation is in the log.
SETTLE_SECONDS = 2.0
POLL_SECONDS = 0.02
#: As `sam deploy` names the function in samconfig.toml's stack (less its random
#: suffix); testkit.stack.SERVICE_TOKEN names the same function.
FUNCTION_NAME = "dms-prerequisite-roles-Function"


@dataclass(frozen=True)
class Invocation:
    """One invoke, as Lambda reports it."""

    request_id: str
    outcome: Outcome
    #: The handler's return value (JSON-decoded), or the error object Lambda reports.
    payload: Any
    #: As the log stream would hold them: init output on a cold start, START, the
    #: function's lines, END and REPORT.
    logs: str
    cold_start: bool
    init_duration_ms: float | None
    duration_ms: float
    #: Peak resident memory of the runtime process so far (Lambda's "Max Memory Used").
    max_memory_mb: float | None
    #: time.monotonic() when the runtime got the event, and its deadline (None: never got it).
    delivered_at: float | None
    deadline_at: float | None

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCESS


class LocalLambda:
    """One Lambda execution environment for the built function: ``invoke(event)`` runs it.

    ``env`` is added to what Lambda sets (credentials, endpoints, SSL_CERT_FILE);
    a ``None`` value removes a variable, e.g. ``{"AWS_REGION": None}``.
    ``timeout_seconds`` overrides the template's Timeout (the invoke limit);
    ``init_timeout_seconds`` overrides Lambda's 10-second init limit.
    """

    def __init__(
        self,
        config: FunctionConfig | None = None,
        *,
        env: Mapping[str, str | None] | None = None,
        timeout_seconds: float | None = None,
        init_timeout_seconds: float | None = None,
        runtime_python: Path = RUNTIME_PYTHON,
        region: str = REGION,
        function_name: str = FUNCTION_NAME,
    ) -> None:
        self.config = config or FunctionConfig.from_template(region=region)
        self.timeout_seconds = timeout_seconds or self.config.timeout_seconds
        self.init_timeout_seconds = init_timeout_seconds or INIT_TIMEOUT_SECONDS
        self.function_name = function_name
        self.region = region
        self.invocations: list[Invocation] = []
        self._extra_env = dict(env or {})
        self._python = runtime_python
        self._lock = threading.Lock()
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._api: RuntimeApi | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._spawned_at = 0.0
        self._spawn_offset = 0
        self._peak_kb = 0

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> LocalLambda:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> LocalLambda:
        """Check the runtime, copy the artifact, start the Runtime API (not the runtime yet)."""
        self._check_runtime_python()
        if not (self.config.code_dir / self.config.handler_file).exists():
            raise FileNotFoundError(f"{self.config.code_dir} has no handler module: {BUILD_HINT}")
        self._workdir = tempfile.TemporaryDirectory(prefix="local-lambda-")
        work = Path(self._workdir.name)
        # The task root is a private copy, as Lambda unpacks the zip into /var/task:
        # a rebuild meanwhile cannot change it, and nothing is ever written into
        # .aws-sam/build (which `sam deploy` zips).
        shutil.copytree(self.config.code_dir, work / "task")
        self._log = (work / "runtime.log").open("ab")
        self._api = RuntimeApi(
            f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{self.function_name}",
            work / "runtime.log",
        )
        return self

    def close(self) -> None:
        self._kill()
        if self._api:
            self._api.close()
            self._api = None
        if self._log:
            self._log.close()
            self._log = None
        if self._workdir:
            self._workdir.cleanup()
            self._workdir = None

    def recycle(self) -> None:
        """End the execution environment, as Lambda does now and then: the next invoke is cold."""
        with self._lock:
            self._kill()

    @property
    def runtime_api(self) -> str:
        """``host:port`` of the Runtime API (AWS_LAMBDA_RUNTIME_API)."""
        if not self._api:
            raise RuntimeError("LocalLambda is not started")
        return self._api.address

    # -- invoking ---------------------------------------------------------------------
    def invoke(self, event: Any) -> Invocation:
        """Run the function on one event; return when it answered, failed or was killed."""
        with self._lock:
            if not self._api:
                raise RuntimeError("LocalLambda is not started")
            cold = self._process is None or self._process.poll() is not None
            if cold:
                self._spawn()
            mailbox = self._api.mailbox
            pending = Pending(
                request_id=str(uuid.uuid4()),
                body=json.dumps(event).encode(),
                timeout_seconds=self.timeout_seconds,
            )
            with mailbox.cond:
                mailbox.pending = pending
                mailbox.cond.notify_all()
            self._wait(mailbox, pending)
            invocation = self._report(mailbox, pending, cold)
            self.invocations.append(invocation)
            return invocation

    def _wait(self, mailbox: Mailbox, pending: Pending) -> None:
        """Until the runtime answers, fails or must be killed; sets ``pending.outcome``."""
        kill = False
        with mailbox.cond:
            while pending.outcome is None:
                now = time.monotonic()
                failure = self._failure(mailbox, pending, now)
                if failure is None:
                    mailbox.cond.wait(POLL_SECONDS)
                    continue
                pending.outcome, pending.payload, kill = failure
                pending.finished_at = pending.finished_at or now
            if not kill and pending.outcome in (Outcome.SUCCESS, Outcome.ERROR):
                # Everything the function printed is logged before the runtime asks again.
                settle_until = time.monotonic() + SETTLE_SECONDS
                while not mailbox.idle and time.monotonic() < settle_until:
                    if self._process and self._process.poll() is not None:
                        break
                    mailbox.cond.wait(POLL_SECONDS)
        self._sample_memory_kb()
        if kill:
            self._kill()

    def _failure(
        self, mailbox: Mailbox, pending: Pending, now: float
    ) -> tuple[Outcome, Any, bool] | None:
        """How the invocation has failed by ``now`` (outcome, payload, kill?), if it has."""
        if mailbox.init_error is not None:
            return Outcome.INIT_ERROR, mailbox.init_error, False
        if self._process is None or self._process.poll() is not None:
            code = self._process.returncode if self._process else None
            return Outcome.CRASH, error_object("Runtime.ExitError", f"exit status {code}"), False
        if pending.deadline is not None and now >= pending.deadline:
            message = f"Task timed out after {self.timeout_seconds:.2f} seconds"
            return Outcome.TIMEOUT, error_object("Sandbox.Timedout", message), True
        if pending.delivered_at is None:
            # Not delivered yet. The init limit runs only while the process has
            # never asked for an event (its init); a warm process is waited for
            # as long as the invoke limit, counted from when the event was
            # queued, never from when the process started.
            if mailbox.ready_at is None:
                if now - self._spawned_at > self.init_timeout_seconds:
                    message = f"init exceeded {self.init_timeout_seconds:g} seconds"
                    return Outcome.INIT_ERROR, error_object("Runtime.InitTimeout", message), True
            elif now - pending.queued_at > self.timeout_seconds:
                message = f"Task timed out after {self.timeout_seconds:.2f} seconds"
                return Outcome.TIMEOUT, error_object("Sandbox.Timedout", message), True
        if self._sample_memory_kb() > self.config.memory_mb * 1024:
            message = f"memory exceeded {self.config.memory_mb} MB"
            return Outcome.OUT_OF_MEMORY, error_object("Runtime.OutOfMemory", message), True
        return None

    def _report(self, mailbox: Mailbox, pending: Pending, cold: bool) -> Invocation:
        assert pending.outcome is not None  # noqa: S101 - _wait always sets it
        end = mailbox.log_path.stat().st_size
        delivered = pending.delivered_at is not None
        # Output before the event was delivered is the init phase's (cold starts only).
        init_end = pending.log_offset if delivered else end
        init_logs = _read(mailbox.log_path, self._spawn_offset, init_end) if cold else ""
        function_logs = _read(mailbox.log_path, pending.log_offset, end) if delivered else ""
        init_ms = None
        if cold:
            ready = mailbox.ready_at or mailbox.init_error_at or pending.finished_at or 0.0
            init_ms = (ready - self._spawned_at) * 1000
        duration_ms = 0.0
        if pending.delivered_at is not None and pending.finished_at is not None:
            duration_ms = (pending.finished_at - pending.delivered_at) * 1000
        peak_mb = self._peak_kb / 1024 if self._peak_kb else None
        lines = [init_logs.rstrip("\n")] if init_logs.strip() else []
        if delivered:
            lines += self._platform_lines(pending, function_logs, duration_ms, init_ms, peak_mb)
        else:
            error_type = (
                pending.payload.get("errorType", "") if isinstance(pending.payload, dict) else ""
            )
            lines.append(
                f"INIT_REPORT Init Duration: {init_ms or 0:.2f} ms\tPhase: init\tStatus: error"
                f"\tError Type: {error_type}"
            )
        return Invocation(
            request_id=pending.request_id,
            outcome=pending.outcome,
            payload=pending.payload,
            logs="\n".join(lines) + "\n",
            cold_start=cold,
            init_duration_ms=init_ms,
            duration_ms=duration_ms,
            max_memory_mb=peak_mb,
            delivered_at=pending.delivered_at,
            deadline_at=pending.deadline,
        )

    def _platform_lines(
        self,
        pending: Pending,
        function_logs: str,
        duration_ms: float,
        init_ms: float | None,
        peak_mb: float | None,
    ) -> list[str]:
        """START, the function's output, END and REPORT, as Lambda writes them."""
        rid = pending.request_id
        lines = [f"START RequestId: {rid} Version: $LATEST"]
        if function_logs.strip():
            lines.append(function_logs.rstrip("\n"))
        if pending.outcome is Outcome.TIMEOUT:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            lines.append(f"{stamp} {rid} Task timed out after {self.timeout_seconds:.2f} seconds")
        lines.append(f"END RequestId: {rid}")
        report = (
            f"REPORT RequestId: {rid}\tDuration: {duration_ms:.2f} ms"
            f"\tBilled Duration: {math.ceil(duration_ms)} ms"
            f"\tMemory Size: {self.config.memory_mb} MB"
            f"\tMax Memory Used: {round(peak_mb or 0)} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if pending.outcome is not Outcome.SUCCESS:
            report += f"\tStatus: {pending.outcome}"
        return [*lines, report]

    # -- the runtime process ------------------------------------------------------------
    def _check_runtime_python(self) -> None:
        if not self._python.exists():
            raise FileNotFoundError(f"{self._python} does not exist: {BUILD_HINT}")
        found = subprocess.run(
            [str(self._python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if found != self.config.python_version:
            raise RuntimeError(
                f"{self._python} is Python {found}, the template's Runtime is "
                f"{self.config.runtime}: recreate it with `make runtime-venv`"
            )

    def lambda_environment(self) -> dict[str, str]:
        """The environment of the runtime process: what Lambda sets, the template's, ``env``."""
        assert self._workdir is not None  # noqa: S101 - only called once started
        work = Path(self._workdir.name)
        config = self.config
        env = {
            "PATH": f"{self._python.parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(work / "task"),
            "LAMBDA_RUNTIME_DIR": str(self._python.parent.parent),
            "_HANDLER": config.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            # Set by `sam local` (the Runtime Interface Emulator), not by the managed
            # runtime; harmless, and code written against sam local may read it.
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(math.ceil(self.timeout_seconds)),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # Lambda has no ~/.aws; a developer's own config must not leak in.
            "AWS_CONFIG_FILE": str(work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
        }
        if config.log_format.upper() == "JSON":
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        if config.application_log_level:
            env["AWS_LAMBDA_LOG_LEVEL"] = config.application_log_level
        env.update(config.environment)
        for name, value in self._extra_env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def _spawn(self) -> None:
        assert self._api is not None and self._log is not None  # noqa: S101
        mailbox = self._api.fresh_mailbox()
        self._spawn_offset = mailbox.log_path.stat().st_size
        self._peak_kb = 0
        env = self.lambda_environment()
        self._spawned_at = time.monotonic()
        self._process = subprocess.Popen(
            # -B: /var/task is read-only in Lambda, so nothing compiled at run time is
            # ever kept; what `make build` compiled into the artifact is used.
            [str(self._python), "-B", "-m", "awslambdaric", self.config.handler],
            cwd=env["LAMBDA_TASK_ROOT"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _sample_memory_kb(self) -> int:
        """The runtime's resident memory now; keeps its peak (VmHWM) in ``_peak_kb``."""
        if not self._process or self._process.poll() is not None:
            return 0
        rss, peak = _memory_kb(self._process.pid)
        self._peak_kb = max(self._peak_kb, peak)
        return rss

    def _kill(self) -> None:
        """As Lambda ends a sandbox: at once, with everything the function started."""
        process, self._process = self._process, None
        if process and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _memory_kb(pid: int) -> tuple[int, int]:
    """Resident memory now and at its peak (VmRSS, VmHWM) from /proc; zeros off Linux."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return int(values.get("VmRSS", 0)), int(values.get("VmHWM", 0))


def _read(path: Path, start: int, end: int) -> str:
    if end <= start:
        return ""
    with path.open("rb") as log:
        log.seek(start)
        return log.read(end - start).decode("utf-8", "replace")
