"""Fixtures for the runtime tests: the built artifact under the local Lambda runtime.

The session starts with ``make build runtime-venv`` (a no-op when both are up
to date), so a clean clone builds what it tests and a stale artifact is never
tested. IAM is a real moto_server (the function reaches it over HTTP, as it
would reach AWS) and answers go over HTTPS to the CloudFormation stand-in.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testkit.local_aws import CloudFormationStandIn, MotoServer
from tools.lambda_runtime import ROOT, FunctionConfig, LocalLambda


@pytest.fixture(scope="session")
def built() -> FunctionConfig:
    """The function of the built template, built (or rebuilt) from the current source."""
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is needed to build the artifact (make build runtime-venv)")
    done = subprocess.run(
        [make, "--no-print-directory", "-s", "build", "runtime-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"make build runtime-venv failed:\n{done.stdout}\n{done.stderr}")
    return FunctionConfig.from_template()


@pytest.fixture
def lambda_env(moto_server: MotoServer, cfn: CloudFormationStandIn) -> dict[str, str | None]:
    """What the function needs besides Lambda's own variables: IAM's endpoint, the CA."""
    return {**moto_server.env(), **cfn.env()}


@pytest.fixture
def local_lambda(
    built: FunctionConfig, lambda_env: dict[str, str | None], server_iam: Any
) -> Iterator[Callable[..., LocalLambda]]:
    """``local_lambda(timeout_seconds=..., init_timeout_seconds=..., **env)``: a started
    LocalLambda, closed after the test.

    Keyword arguments other than the two limits change its environment; None removes.
    """
    started: list[LocalLambda] = []

    def make(
        timeout_seconds: float | None = None,
        init_timeout_seconds: float | None = None,
        **env: str | None,
    ) -> LocalLambda:
        function = LocalLambda(
            built,
            env={**lambda_env, **env},
            timeout_seconds=timeout_seconds,
            init_timeout_seconds=init_timeout_seconds,
        ).start()
        started.append(function)
        return function

    yield make
    for function in started:
        function.close()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An http:// endpoint on loopback that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
