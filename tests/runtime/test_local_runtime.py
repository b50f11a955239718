"""The local Lambda runtime itself (tools.lambda_runtime), on tiny handlers.

Each test writes a one-file function and runs it under awslambdaric on the
runtime's Python, to pin down what the local runtime promises: Lambda's
environment and context, the deadline, and how init errors, function errors,
crashes and memory are reported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tools.lambda_runtime import FunctionConfig, LocalLambda, Outcome

pytestmark = pytest.mark.runtime


@pytest.fixture
def run(built: FunctionConfig, tmp_path: Path) -> Iterator[Callable[..., LocalLambda]]:
    """``run(source, timeout=2, init_timeout=None)``: a started LocalLambda whose app.py is
    ``source``; ``init_timeout`` None is Lambda's 10 seconds."""
    started: list[LocalLambda] = []

    def make(source: str, timeout: float = 2.0, init_timeout: float | None = None) -> LocalLambda:
        code = tmp_path / f"fn{len(started)}"
        code.mkdir()
        (code / "app.py").write_text(source)
        config = replace(
            built, code_dir=code, handler="app.handler", environment={"FROM_TEMPLATE": "yes"}
        )
        function = LocalLambda(
            config,
            env={"FROM_CALLER": "yes"},
            timeout_seconds=timeout,
            init_timeout_seconds=init_timeout,
        )
        started.append(function.start())
        return function

    yield make
    for function in started:
        function.close()


ECHO_CONTEXT = """
import json, os, sys
def handler(event, context):
    print("handling", event["n"])
    return {
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "version": "%d.%d" % sys.version_info[:2],
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
    }
"""


def test_function_sees_lambdas_environment_and_context(run, built):
    function = run(ECHO_CONTEXT, timeout=2.0)

    first = function.invoke({"n": 1})
    second = function.invoke({"n": 2})

    assert first.outcome is Outcome.SUCCESS and second.outcome is Outcome.SUCCESS
    seen = first.payload
    env = seen["env"]
    task_root = env["LAMBDA_TASK_ROOT"]
    assert seen["cwd"] == task_root == seen["path0"]
    assert ".aws-sam" not in task_root, "runs a private copy of the artifact"
    assert seen["version"] == built.python_version
    assert env["AWS_LAMBDA_RUNTIME_API"] == function.runtime_api
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{built.runtime}"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(built.memory_mb)
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == function.region
    assert env["FROM_TEMPLATE"] == env["FROM_CALLER"] == "yes"
    assert "HOME" not in env and "VIRTUAL_ENV" not in env, "a fresh environment, as Lambda's"
    assert seen["function_name"] == env["AWS_LAMBDA_FUNCTION_NAME"] == function.function_name
    assert seen["arn"].endswith(f":function:{function.function_name}")
    assert seen["memory"] == str(built.memory_mb)
    assert 1000 < seen["remaining_ms"] <= 2000, "the deadline header is the timeout from now"
    assert seen["request_id"] == first.request_id
    assert first.cold_start and not second.cold_start
    assert first.init_duration_ms and second.init_duration_ms is None
    assert "handling 1" in first.logs and "handling 2" not in first.logs
    assert first.logs.splitlines()[-1].startswith(f"REPORT RequestId: {first.request_id}")


def test_deadline_kills_the_runtime_and_the_next_invoke_is_cold(run):
    function = run("import time\ndef handler(event, context):\n    time.sleep(60)\n", timeout=1.0)

    timed_out = function.invoke({})
    after = function.invoke({})

    assert timed_out.outcome is Outcome.TIMEOUT
    assert 1000 <= timed_out.duration_ms < 1500
    assert "Task timed out after 1.00 seconds" in timed_out.logs
    assert after.cold_start


def test_init_longer_than_the_init_limit_is_an_init_timeout(run):
    function = run(
        "import time\ntime.sleep(3)\ndef handler(event, context):\n    return 1\n",
        timeout=10.0,
        init_timeout=1.0,
    )

    invocation = function.invoke({})

    assert invocation.outcome is Outcome.INIT_ERROR
    assert invocation.payload == {
        "errorType": "Runtime.InitTimeout",
        "errorMessage": "init exceeded 1 seconds",
    }
    assert invocation.delivered_at is None
    assert 1000 <= invocation.init_duration_ms < 2500, "killed at the init limit, not later"
    assert "INIT_REPORT" in invocation.logs


def test_init_limit_and_invoke_limit_are_separate_clocks(run):
    # Init takes 1.5 s of a 3 s init limit; the invokes 0.6 s of a 1 s Timeout,
    # except the last. Neither limit counts the other phase's time, nor the idle
    # time between invokes: the warm ones start well past 3 s after the process.
    function = run(
        "import time\ntime.sleep(1.5)\n"
        "def handler(event, context):\n    time.sleep(event['sleep'])\n    return event['sleep']\n",
        timeout=1.0,
        init_timeout=3.0,
    )

    cold = function.invoke({"sleep": 0.6})
    time.sleep(1.5)  # now about 3.6 s after the process started
    warm = [function.invoke({"sleep": 0.6}) for _ in range(3)]
    over = function.invoke({"sleep": 5})

    assert cold.outcome is Outcome.SUCCESS and cold.cold_start
    assert 1500 <= cold.init_duration_ms < 3000
    assert 600 <= cold.duration_ms < 1000, "init time is not invoke time"
    assert [i.outcome for i in warm] == [Outcome.SUCCESS] * 3
    assert not any(i.cold_start for i in warm)
    assert over.outcome is Outcome.TIMEOUT
    assert over.payload["errorType"] == "Sandbox.Timedout"
    assert 1000 <= over.duration_ms < 1500


def test_import_error_is_an_init_error_and_the_event_is_never_delivered(run):
    function = run("import module_that_is_not_there\ndef handler(event, context):\n    pass\n")

    invocation = function.invoke({})

    assert invocation.outcome is Outcome.INIT_ERROR
    assert invocation.payload["errorType"] == "Runtime.ImportModuleError"
    assert invocation.delivered_at is None
    assert "INIT_REPORT" in invocation.logs and "START RequestId" not in invocation.logs


def test_exception_is_a_function_error(run):
    function = run("def handler(event, context):\n    raise KeyError('missing')\n")

    invocation = function.invoke({})

    assert invocation.outcome is Outcome.ERROR
    assert invocation.payload["errorType"] == "KeyError"
    assert "Status: error" in invocation.logs


def test_exit_mid_invoke_is_a_crash(run):
    function = run("import os\ndef handler(event, context):\n    os._exit(3)\n")

    invocation = function.invoke({})

    assert invocation.outcome is Outcome.CRASH
    assert invocation.payload["errorMessage"] == "exit status 3"


def test_memory_past_memory_size_kills_the_runtime(run, built):
    function = run(
        "import time\ndef handler(event, context):\n"
        f"    hog = bytearray({built.memory_mb + 64} * 1024 * 1024)\n"
        "    time.sleep(5)\n"
    )

    invocation = function.invoke({})

    assert invocation.outcome is Outcome.OUT_OF_MEMORY
    assert invocation.max_memory_mb and invocation.max_memory_mb > built.memory_mb


def test_handler_return_value_is_the_payload(run):
    function = run("def handler(event, context):\n    return [event, None]\n")

    assert function.invoke({"a": 1}).payload == [{"a": 1}, None]
    assert json.dumps(function.invoke("text").payload) == '["text", null]'


def test_recycle_ends_the_environment(run):
    function = run("def handler(event, context):\n    return 1\n")

    function.invoke({})
    function.recycle()

    assert function.invoke({}).cold_start
