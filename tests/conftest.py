"""Fixtures: IAM (moto), CloudFormation's answer endpoint, and the function itself.

Functional tests run the real entry point (``app.lambda_handler``) in-process
against moto's IAM; answers travel over HTTPS to the CloudFormation stand-in,
and tests assert on what it received and on the roles as IAM reports them.
Every invocation is recorded in :data:`~testkit.evidence.EVIDENCE`, so the
least-privilege and clean-log checks (tests/prove) see these calls too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import boto3
import pytest
from moto import mock_aws

from testkit import REGION
from testkit.evidence import EVIDENCE
from testkit.invoke import InProcessFunction
from testkit.local_aws import CloudFormationStandIn, MotoServer
from testkit.stack import SimulatedStack

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
    return moto_server.client("iam")


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
def function(iam: Any, sleeps: Sleeps, request: pytest.FixtureRequest) -> InProcessFunction:
    """The real entry point, wired to moto's IAM; call it with an event."""
    return InProcessFunction(
        iam, sleep=sleeps.append, observe=partial(EVIDENCE.invocation, source=request.node.nodeid)
    )


@pytest.fixture
def stack(function: InProcessFunction, cfn: CloudFormationStandIn) -> Callable[..., SimulatedStack]:
    """``stack("name")``: a stack whose resource calls the function in-process."""

    def make(name: str, **options: Any) -> SimulatedStack:
        return SimulatedStack(name=name, invoke=function, cfn=cfn, **options)

    return make
