"""Fixtures for the runtime tests: the built artifact under the local Lambda runtime.

The session starts with ``make build runtime-venv`` (a no-op when both are up
to date), so a clean clone builds what it tests and a stale artifact is never
tested. IAM is a real moto_server (the function reaches it over HTTP, as it
would reach AWS) and answers go over HTTPS to the CloudFormation stand-in.
CloudFormation's stack reads (``cfn_api``, which the function checks every
request against: ``VerifyRequests`` is true as deployed) and DMS (``dms_api``,
moto's behind the proxy that adds what moto lacks) are stand-ins too; the
function process reaches each through its ``AWS_ENDPOINT_URL_*`` variable.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testkit.cfn_api import CloudFormationApi
from testkit.dms_api import DmsApi
from testkit.local_aws import CloudFormationStandIn, MotoServer
from testkit.stack import SimulatedStack
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


@pytest.fixture(scope="session")
def dms_api(moto_server: MotoServer) -> Iterator[DmsApi]:
    """DMS as the sweep asks it: moto's, with DescribeReplicationConfigs added."""
    with DmsApi(moto_server) as proxy:
        yield proxy


@pytest.fixture
def lambda_env(
    moto_server: MotoServer, cfn: CloudFormationStandIn, cfn_api: CloudFormationApi, dms_api: DmsApi
) -> dict[str, str | None]:
    """What the function needs besides Lambda's own variables: every endpoint, the CA."""
    cfn_api.reset()
    dms_api.reset()
    return {
        **moto_server.env(),
        **cfn.env(),
        **cfn_api.env(),
        # boto3 names DMS's variable after its service id, "Database Migration Service"
        # (AWS SDKs and Tools reference guide, "Service-specific endpoints").
        "AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE": dms_api.url,
        # Nothing real is reached: the sweep's ec2:DescribeRegions goes to moto too.
        "AWS_ENDPOINT_URL_EC2": moto_server.url,
    }


@pytest.fixture
def stack_on(
    cfn: CloudFormationStandIn, cfn_api: CloudFormationApi, lambda_env: dict[str, str | None]
) -> Callable[[str, LocalLambda], SimulatedStack]:
    """``stack_on("name", function)``: a stack whose requests the LocalLambda serves, and
    whose operations CloudFormation's stack reads show meanwhile (the request check)."""

    def make(name: str, function: LocalLambda) -> SimulatedStack:
        return SimulatedStack(name, invoke=function.invoke, cfn=cfn, api=cfn_api)

    return make


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
