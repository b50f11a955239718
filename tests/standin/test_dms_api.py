"""``testkit.dms_api.DmsApi`` puts replication configs and region failures in front of moto.

boto3 clients talk to the proxy over HTTP. Replication configs come from its registry,
paged with ``Marker``; every other DMS call must reach moto_server unchanged (shown by
reading moto directly too); and a failed region answers every call with the error the
function must treat as "uncertain". moto alone cannot answer DescribeReplicationConfigs
at all, which the first test shows, so the stand-in is a difference a test can see.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from testkit import REGION
from testkit.dms_api import DmsApi
from testkit.local_aws import MotoServer
from tests.standin import probe

OTHER_REGION = "eu-west-1"


@pytest.fixture(scope="module")
def server(moto_server: MotoServer) -> Iterator[DmsApi]:
    with DmsApi(moto_server) as proxy:
        yield proxy


@pytest.fixture
def dms_api(server: DmsApi) -> DmsApi:
    # moto keeps its DMS resources between tests (emptying it would reload IAM's managed
    # policies for the other suites); tests use fresh identifiers instead.
    server.reset()
    return server


def client(url: str, region: str = REGION) -> Any:
    return probe.client("dms", url, region)


def all_configs(dms: Any, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every replication config over the Marker pages, as dms_usage reads them, and the pages."""
    found: list[dict[str, Any]] = []
    pages, marker = 0, ""
    while True:
        page = dms.describe_replication_configs(**params, **({"Marker": marker} if marker else {}))
        pages += 1
        found += page["ReplicationConfigs"]
        marker = page.get("Marker") or ""
        if not marker:
            return found, pages


def test_moto_alone_cannot_describe_replication_configs(moto_server: MotoServer) -> None:
    with pytest.raises(ClientError) as caught:
        client(moto_server.url).describe_replication_configs()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_replication_configs_are_answered_per_region_with_paging(dms_api: DmsApi) -> None:
    names = sorted(probe.fresh("config") for _ in range(230))
    for name in names:
        dms_api.add_replication_config(REGION, name)
    elsewhere = dms_api.add_replication_config(OTHER_REGION, "far", replication_type="cdc")

    here, pages = all_configs(client(dms_api.url, REGION))
    there, _ = all_configs(client(dms_api.url, OTHER_REGION))

    assert [c["ReplicationConfigIdentifier"] for c in here] == names
    assert pages == 3  # 100 + 100 + 30
    assert all(c["ReplicationConfigArn"].startswith(f"arn:aws:dms:{REGION}:") for c in here)
    assert [(c["ReplicationConfigArn"], c["ReplicationType"]) for c in there] == [
        (elsewhere["ReplicationConfigArn"], "cdc")
    ]
    assert dms_api.calls() == {
        (REGION, "DescribeReplicationConfigs"): 3,
        (OTHER_REGION, "DescribeReplicationConfigs"): 1,
    }


def test_max_records_filters_and_removal(dms_api: DmsApi) -> None:
    names = sorted(probe.fresh("config") for _ in range(25))
    for name in names:
        dms_api.add_replication_config(REGION, name)
    dms = client(dms_api.url)

    first = dms.describe_replication_configs(MaxRecords=20)
    picked = dms.describe_replication_configs(
        Filters=[{"Name": "replication-config-id", "Values": [names[3]]}]
    )
    dms_api.remove_replication_config(REGION, names[3])

    assert len(first["ReplicationConfigs"]) == 20 and first["Marker"]
    assert [c["ReplicationConfigIdentifier"] for c in picked["ReplicationConfigs"]] == [names[3]]
    assert len(all_configs(dms)[0]) == 24
    assert probe.refusal(lambda: dms.describe_replication_configs(MaxRecords=5))[0] == (
        "InvalidParameterValueException"
    )


def test_other_calls_reach_moto_unchanged(dms_api: DmsApi, moto_server: MotoServer) -> None:
    # moto's DMS takes any subnet ids; real DMS wants subnets of one VPC, so make them.
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=moto_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((1, f"{REGION}a"), (2, f"{REGION}b"))
    ]
    group, endpoint = probe.fresh("group"), probe.fresh("redshift")
    dms = client(dms_api.url)

    dms.create_replication_subnet_group(
        ReplicationSubnetGroupIdentifier=group,
        ReplicationSubnetGroupDescription="through the proxy",
        SubnetIds=subnets,
    )
    created = dms.create_endpoint(
        EndpointIdentifier=endpoint,
        EndpointType="target",
        EngineName="redshift",
        ServerName="cluster.example.internal",
        Port=5439,
        DatabaseName="dev",
        Username="admin",
        Password="not-a-secret",
    )["Endpoint"]

    groups = dms.describe_replication_subnet_groups()["ReplicationSubnetGroups"]
    endpoints = dms.describe_endpoints()["Endpoints"]
    assert group in {g["ReplicationSubnetGroupIdentifier"] for g in groups}
    assert (endpoint, "redshift") in {(e["EndpointIdentifier"], e["EngineName"]) for e in endpoints}
    # moto itself holds them, in the region the call was signed for and only there.
    direct = client(moto_server.url)
    assert created["EndpointArn"] in {
        e["EndpointArn"] for e in direct.describe_endpoints()["Endpoints"]
    }
    assert endpoint not in {
        e["EndpointIdentifier"]
        for e in client(dms_api.url, OTHER_REGION).describe_endpoints()["Endpoints"]
    }
    assert dms_api.calls()[(REGION, "CreateReplicationSubnetGroup")] == 1
    assert dms_api.calls()[(OTHER_REGION, "DescribeEndpoints")] == 1


def test_a_failed_region_refuses_every_call_and_others_answer(dms_api: DmsApi) -> None:
    dms_api.add_replication_config(OTHER_REGION, probe.fresh("config"))
    dms_api.fail_region(OTHER_REGION)
    failed, healthy = client(dms_api.url, OTHER_REGION), client(dms_api.url, REGION)

    configs = probe.refusal(lambda: failed.describe_replication_configs())
    instances = probe.refusal(lambda: failed.describe_replication_instances())

    assert configs[:2] == ("AccessDeniedException", 403)
    assert "dms:DescribeReplicationConfigs" in configs[2]
    assert instances[:2] == ("AccessDeniedException", 403)
    assert "ReplicationInstances" in healthy.describe_replication_instances()

    dms_api.heal_region(OTHER_REGION)
    assert len(failed.describe_replication_configs()["ReplicationConfigs"]) == 1


def test_a_region_not_enabled_answers_unrecognized_client(dms_api: DmsApi) -> None:
    dms_api.fail_region(OTHER_REGION, "UnrecognizedClientException")

    assert probe.refusal(lambda: client(dms_api.url, OTHER_REGION).describe_endpoints()) == (
        "UnrecognizedClientException",
        403,
        "The security token included in the request is invalid.",
    )


def test_a_region_can_fail_one_action_only(dms_api: DmsApi) -> None:
    dms_api.fail_region(REGION, "ThrottlingException", actions=["DescribeEndpoints"])
    dms = client(dms_api.url)

    assert probe.refusal(lambda: dms.describe_endpoints())[:2] == ("ThrottlingException", 400)
    assert dms.describe_replication_configs()["ReplicationConfigs"] == []
    with pytest.raises(ValueError, match="HTTP status"):
        dms_api.fail_region(REGION, "SomethingElse")
