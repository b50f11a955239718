"""Fixtures of the functional tests: one moto per module, the sweep, and IAM as it behaves.

* ``aws`` (overriding tests/conftest.py's): one in-process moto IAM per module,
  with the AWS managed policies loaded once (the load costs about a second), and
  an empty account for every test;
* ``sweep`` (``unkind_sweep`` against the unkind IAM): the function's scheduled
  event, with the deployment a test or demo uses (``sweep_deployment``:
  ``UnclaimedRoleRetentionMinutes`` 0, no settle time) and DMS asked in
  :data:`DMS_REGIONS` through :class:`~testkit.dms_api.DmsApi`;
* ``unkind_stack`` and ``truth``: stacks whose function talks to
  :class:`~testkit.unkind_iam.UnkindIam`, and moto itself behind it, read
  without lag, to assert on what IAM really holds; ``pauses``: the back-off the
  function took after a 409 (``dms_prereq.iam.pause``, recorded, not slept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
import dms_prereq.iam
import pytest
from dms_prereq.clients import Clients
from moto import mock_aws

from testkit import REGION
from testkit.cfn_api import CloudFormationApi
from testkit.console import wipe_account
from testkit.dms_api import DmsApi
from testkit.evidence import EVIDENCE
from testkit.invoke import InProcessFunction, load_app
from testkit.local_aws import CloudFormationStandIn, MotoServer
from testkit.stack import SimulatedStack, load_event
from testkit.unkind_iam import UnkindIam

#: Where the sweep asks DMS: the function's own region and two others, so that a DMS
#: resource "in any region" is one the function would not see by asking at home.
DMS_REGIONS = (REGION, "eu-west-1", "ap-southeast-2")


@pytest.fixture(scope="module")
def module_aws() -> Iterator[None]:
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        boto3.client("iam", region_name=REGION).list_roles()  # the managed policies load now
        yield


@pytest.fixture
def aws(module_aws: None) -> None:
    """An account with no roles and no policies of its own, in the module's moto."""
    wipe_account(boto3.client("iam", region_name=REGION))


@dataclass
class Sweep:
    """Runs the function's scheduled event; DMS and the deployment are the test's."""

    function: InProcessFunction
    dms_api: DmsApi

    def __call__(self) -> dict[str, Any]:
        """One sweep; returns what the function returned, the sweep's summary."""
        summary = self.function(load_event("scheduled"))
        assert isinstance(summary, dict), summary
        return summary

    def dms(self, region: str) -> Any:
        """A DMS client of ``region``, through the stand-in the function asks."""
        return self.dms_client(self.dms_api, region)

    @staticmethod
    def dms_client(dms_api: DmsApi, region: str) -> Any:
        make: Any = boto3.client
        return make("dms", region_name=region, endpoint_url=dms_api.url)


@pytest.fixture
def sweep_deployment(dms_api: DmsApi, monkeypatch: pytest.MonkeyPatch) -> DmsApi:
    """The deployment of the sweep made for tests and demos: retention 0 (a role nobody
    claims goes at the sweep after the one that marks it), no settle time, DMS asked in
    :data:`DMS_REGIONS` through the stand-in (returned), which starts empty."""
    for region in DMS_REGIONS:
        # DMS resources of earlier tests (resetting moto would reload IAM's managed policies)
        client = Sweep.dms_client(dms_api, region)
        for group in client.describe_replication_subnet_groups()["ReplicationSubnetGroups"]:
            client.delete_replication_subnet_group(
                ReplicationSubnetGroupIdentifier=group["ReplicationSubnetGroupIdentifier"]
            )
        for endpoint in client.describe_endpoints()["Endpoints"]:
            client.delete_endpoint(EndpointArn=endpoint["EndpointArn"])
    dms_api.reset()
    # boto3 reads a DMS endpoint from the variable named after the service id, "Database
    # Migration Service" (AWS SDKs and Tools reference guide, "Service-specific
    # endpoints"); AWS_ENDPOINT_URL_DMS alone would leave DMS on the real endpoint.
    for name, value in {
        **dms_api.env(),
        "AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE": dms_api.url,
        "DMS_REGIONS": ",".join(DMS_REGIONS),
        "UNCLAIMED_ROLE_RETENTION_MINUTES": "0",
        "SWEEP_SETTLE_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    # The function makes its clients once per process, with the endpoints of that moment:
    # fresh ones here, so that this test's DMS is the one asked.
    monkeypatch.setattr(load_app(), "CLIENTS", Clients())
    return dms_api


@pytest.fixture
def sweep(function: InProcessFunction, sweep_deployment: DmsApi) -> Sweep:
    """The sweep of the in-process moto's account."""
    return Sweep(function, sweep_deployment)


@pytest.fixture
def unkind_sweep(unkind_function: InProcessFunction, sweep_deployment: DmsApi) -> Sweep:
    """The sweep of the unkind IAM's account."""
    return Sweep(unkind_function, sweep_deployment)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off pauses the function took after a 409 (recorded, not slept)."""
    taken: list[float] = []
    monkeypatch.setattr(dms_prereq.iam, "pause", taken.append)
    return taken


@pytest.fixture
def truth(unkind: UnkindIam, moto_server: MotoServer) -> Any:
    """moto itself, behind the unkind IAM: what IAM holds, read without lag."""
    return moto_server.client("iam")


@pytest.fixture
def unkind_function(
    unkind: UnkindIam,
    sleeps: list[float],
    cfn_api: CloudFormationApi,
    pauses: list[float],
    request: pytest.FixtureRequest,
) -> InProcessFunction:
    """The real entry point, its IAM client pointed at the unkind IAM."""
    cfn_api.reset()
    make: Any = boto3.client
    client = make("iam", region_name=REGION, endpoint_url=unkind.url)
    return InProcessFunction(
        client,
        sleep=sleeps.append,
        observe=partial(EVIDENCE.invocation, source=request.node.nodeid),
    )


@pytest.fixture
def unkind_stack(
    unkind_function: InProcessFunction, cfn: CloudFormationStandIn, cfn_api: CloudFormationApi
) -> Callable[..., SimulatedStack]:
    """``unkind_stack("name")``: a stack whose function meets IAM as it behaves."""

    def make(name: str, **options: Any) -> SimulatedStack:
        return SimulatedStack(name=name, invoke=unkind_function, cfn=cfn, api=cfn_api, **options)

    return make
