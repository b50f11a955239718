"""Fixtures: IAM (moto), CloudFormation's answer endpoint, and the function itself.

Unit tests run the real entry point (``app.lambda_handler``) in-process against
moto's IAM; answers travel over HTTPS to the CloudFormation stand-in, and tests
assert on what it received and on the roles as IAM reports them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.prove.evidence import EVIDENCE  # every invocation's IAM calls and log lines
from tools.local_aws import REGION, CloudFormationStandIn, MotoServer
from tools.stack import FakeContext, SimulatedStack

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL_IAM", None)
os.environ.pop("AWS_SAM_LOCAL", None)


@pytest.fixture(scope="session")
def cfn() -> Iterator[CloudFormationStandIn]:
    stand_in = CloudFormationStandIn().start()
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = stand_in.ca_file
    yield stand_in
    if saved is None:
        os.environ.pop("SSL_CERT_FILE", None)
    else:
        os.environ["SSL_CERT_FILE"] = saved
    stand_in.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One real moto_server (IAM with managed policies) on loopback for the session."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def server_iam(moto_server: MotoServer) -> Any:
    """A client of the moto_server's IAM, emptied for each test."""
    moto_server.reset()
    local = moto_server.env()
    return boto3.client(
        "iam",
        region_name=REGION,
        endpoint_url=moto_server.url,
        aws_access_key_id=local["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=local["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        yield


@pytest.fixture
def iam(aws: None) -> Any:
    return boto3.client("iam", region_name=REGION)


class Sleeps(list[float]):
    """The propagation waits the function asked for (tests do not really wait)."""


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def function(
    iam: Any, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Callable[..., None]:
    """The real entry point, wired to moto's IAM; call it with an event."""
    import app

    monkeypatch.setattr(app, "IAM", iam)
    monkeypatch.setattr(app, "sleep", sleeps.append)

    def invoke(event: dict[str, Any], timeout_seconds: float = 300.0) -> None:
        with EVIDENCE.invocation(iam, event, source=request.node.nodeid):
            app.lambda_handler(event, FakeContext(timeout_seconds))

    return invoke


@pytest.fixture
def stack(
    function: Callable[..., None], cfn: CloudFormationStandIn
) -> Callable[..., SimulatedStack]:
    """``stack("name")``: a stack whose resource calls the function in-process."""

    def make(name: str, **options: Any) -> SimulatedStack:
        return SimulatedStack(name=name, invoke=function, cfn=cfn, **options)

    return make
