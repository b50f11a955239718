"""Fixtures: IAM (moto), CloudFormation's answer endpoint and stack reads, DMS, the function.

Functional tests run the real entry point (``app.lambda_handler``) in-process
against moto's IAM; answers travel over HTTPS to the CloudFormation stand-in,
CloudFormation's stack reads (the request check, the sweep) come from
:class:`~testkit.cfn_api.CloudFormationApi`, and tests assert on what
CloudFormation received and on the roles as IAM reports them. Where a test needs
IAM as it really behaves (lagging reads, 409s, tag case, unique ids for ARNs) it
uses ``unkind``: moto_server behind :class:`~testkit.unkind_iam.UnkindIam`.
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
from testkit.cfn_api import CloudFormationApi
from testkit.console import wipe_account
from testkit.dms_api import DmsApi
from testkit.evidence import EVIDENCE
from testkit.invoke import InProcessFunction
from testkit.local_aws import CloudFormationStandIn, MotoServer
from testkit.stack import SimulatedStack
from testkit.unkind_iam import UnkindIam, UnkindSettings

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL_IAM", None)
os.environ.pop("AWS_SAM_LOCAL", None)
# CloudFormation's stack reads come from one stand-in for the whole session (cfn_api);
# its address is set before any client is made, so the function's clients reach it.
_CFN_API = CloudFormationApi()
os.environ.update(_CFN_API.env())


@pytest.fixture(scope="session")
def cfn_api() -> Iterator[CloudFormationApi]:
    """CloudFormation's stack reads (DescribeStackResource, DescribeStacks, ...)."""
    with _CFN_API:
        yield _CFN_API


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
    """The waits the function asked for: IAM's propagation, a sweep's settle time (tests
    do not really wait)."""


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def function(
    iam: Any, sleeps: Sleeps, cfn_api: CloudFormationApi, request: pytest.FixtureRequest
) -> InProcessFunction:
    """The real entry point, wired to moto's IAM; call it with an event.

    CloudFormation's stack reads start empty: a request the test did not play as a
    stack operation (``stack``, or ``tools.invoke.begin_operation`` for a sample
    event) is one CloudFormation knows nothing of, and the function refuses it.
    """
    cfn_api.reset()
    return InProcessFunction(
        iam, sleep=sleeps.append, observe=partial(EVIDENCE.invocation, source=request.node.nodeid)
    )


@pytest.fixture
def stack(
    function: InProcessFunction, cfn: CloudFormationStandIn, cfn_api: CloudFormationApi
) -> Callable[..., SimulatedStack]:
    """``stack("name")``: a stack whose resource calls the function in-process, and
    whose operations CloudFormation's stack reads show meanwhile."""

    def make(name: str, **options: Any) -> SimulatedStack:
        return SimulatedStack(name=name, invoke=function, cfn=cfn, api=cfn_api, **options)

    return make


@pytest.fixture(scope="session")
def dms_api(moto_server: MotoServer) -> Iterator[DmsApi]:
    """DMS as the sweep asks it: moto_server's, with the DescribeReplicationConfigs moto
    lacks answered from a registry (:class:`~testkit.dms_api.DmsApi`)."""
    with DmsApi(moto_server) as api:
        yield api


@pytest.fixture(scope="session")
def unkind_server(moto_server: MotoServer) -> Iterator[UnkindIam]:
    """IAM as it really behaves, for the session: the session's moto_server behind
    :class:`~testkit.unkind_iam.UnkindIam` (lagging reads, 409s, IAM's tag rules, unique
    ids as new roles' ARNs, missing boundaries refused, paths in ARNs)."""
    with UnkindIam(moto_server) as proxy:
        yield proxy


@pytest.fixture
def unkind(unkind_server: UnkindIam, moto_server: MotoServer) -> UnkindIam:
    """The unkind IAM with no roles, with its realistic defaults; a test may ``configure`` it.

    The roles are deleted in moto directly rather than by resetting it, which would make
    its next IAM call load the AWS managed policies again (about a second a test).
    """
    wipe_account(moto_server.client("iam"))
    unkind_server.reset(moto=False)
    unkind_server.configure(UnkindSettings())
    return unkind_server
