"""ResourceProperties: coercion of CloudFormation's strings, and clear errors for bad input."""

from __future__ import annotations

import pytest
from botocore.awsrequest import AWSResponse
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, VPC_ROLE

from testkit.calls import CallRecorder
from testkit.stack import load_event
from testkit.views import view

BOUNDARY = "arn:aws:iam::123456789012:policy/dms-boundary"


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"CreateVpcRol": "true"}, "CreateVpcRol"),
        ({"CreateVpcRole": "yes"}, "CreateVpcRole"),
        ({"CreateRedshiftRole": "1"}, "CreateRedshiftRole"),
        ({"RestrictToSourceAccount": "maybe"}, "RestrictToSourceAccount"),
        ({"ExistingRolePolicy": "Overwrite"}, "ExistingRolePolicy"),
        ({"PermissionsBoundary": "dms-boundary"}, "PermissionsBoundary"),
        ({"PermissionsBoundary": "arn:aws:s3:::bucket/policy"}, "PermissionsBoundary"),
        ({"PermissionsBoundary": "arn:aws-cn:iam::123456789012:policy/b"}, "PermissionsBoundary"),
        ({"PropagationDelaySeconds": "301"}, "PropagationDelaySeconds"),
        ({"PropagationDelaySeconds": "-1"}, "PropagationDelaySeconds"),
        ({"PropagationDelaySeconds": "ten"}, "PropagationDelaySeconds"),
        ({"Tags": "team=data"}, "Tags"),
        ({"Tags": [{"Key": "team"}]}, "Tags[0]"),
        ({"Tags": [{"Key": "a|b", "Value": "x"}]}, "Tags[0].Key"),
        ({"Tags": [{"Key": "aws:owner", "Value": "x"}]}, "Tags[0].Key"),
        ({"Tags": [{"Key": "dms-prerequisite-roles:origin", "Value": "x"}]}, "Tags[0].Key"),
        ({"Tags": [{"Key": "k", "Value": "v" * 257}]}, "Tags[0].Value"),
        ({"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(49)]}, "Tags"),
        ({"Tags": [{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]}, "Tags"),
    ],
)
def test_invalid_property_fails_naming_it_and_delete_then_succeeds(stack, iam, props, named):
    a = stack("bad-input")

    body = a.create(**props)

    assert body["Status"] == "FAILED"
    assert named in body["Reason"]
    assert "Traceback" not in body["Reason"]
    assert len(body["Reason"]) <= 256
    assert view(iam, VPC_ROLE.name) is None
    assert a.delete()["Status"] == "SUCCESS"


def test_unknown_property_lists_the_valid_ones(stack):
    reason = stack("typo").create(CreateVPCRole="true")["Reason"]
    assert "'CreateVPCRole'" in reason
    for valid in ("CreateVpcRole", "ExistingRolePolicy", "PropagationDelaySeconds"):
        assert valid in reason


def test_sample_invalid_event_fails_with_reason(function, cfn):
    event = load_event("create-invalid")
    event["ResponseURL"] = cfn.response_url()

    function(event)

    body = cfn.wait_for(cfn.key_of(event["ResponseURL"]))
    assert body["Status"] == "FAILED"
    assert body["Reason"] == "Property CreateVpcRole must be true or false, got 'yes'."
    assert body["PhysicalResourceId"].startswith("DmsPrerequisiteRoles-")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("TRUE", True), ("False", False), (True, True), (False, False), (" true ", True)],
)
def test_booleans_accept_strings_in_any_case_and_json_booleans(stack, iam, value, expected):
    body = stack("bools").create(CreateRedshiftRole=value, PropagationDelaySeconds=0)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert (view(iam, REDSHIFT_ROLE.name) is not None) is expected


def test_cloudformation_own_keys_are_ignored(stack):
    body = stack("own-keys").create(ServiceTimeout="300", PropagationDelaySeconds="0")
    assert body["Status"] == "SUCCESS", body["Reason"]


def test_boundary_and_tags_are_set_changed_and_removed(stack, iam):
    a = stack("governed")
    other = "arn:aws:iam::123456789012:policy/dms-boundary-v2"
    a.create(
        PermissionsBoundary=BOUNDARY,
        Tags=[{"Key": "team", "Value": "data"}, {"Key": "cost-centre", "Value": "42"}],
        PropagationDelaySeconds="0",
    )
    for name in (VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name):
        role = view(iam, name)
        assert role.boundary == BOUNDARY
        assert role.tags["team"] == "data"
        assert role.tags["cost-centre"] == "42"

    a.update(PermissionsBoundary=other, Tags=[{"Key": "team", "Value": "platform"}])
    for name in (VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name):
        role = view(iam, name)
        assert role.boundary == other
        assert role.tags["team"] == "platform"
        assert "cost-centre" not in role.tags

    body = a.update(Tags=[{"Key": "team", "Value": "platform"}])
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert view(iam, VPC_ROLE.name).boundary is None


def test_restrict_to_source_account_adds_condition(stack, iam):
    a = stack("restricted")
    a.create(RestrictToSourceAccount="true", PropagationDelaySeconds="0")
    statement = view(iam, VPC_ROLE.name).trust["Statement"][0]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}

    body = a.update(RestrictToSourceAccount="false", PropagationDelaySeconds="3")

    assert body["Status"] == "SUCCESS"
    assert "Condition" not in view(iam, VPC_ROLE.name).trust["Statement"][0]


def test_trust_change_on_update_waits_for_propagation(stack, sleeps):
    a = stack("waits")
    a.create(PropagationDelaySeconds="0")
    a.update(RestrictToSourceAccount="true", PropagationDelaySeconds="4")
    assert sleeps == [4.0]


def test_propagation_wait_is_cut_to_the_time_left(function, cfn, sleeps):
    event = load_event("create")
    event["ResponseURL"] = cfn.response_url()
    event["ResourceProperties"]["PropagationDelaySeconds"] = "300"

    function(event, timeout_seconds=20)

    body = cfn.wait_for(cfn.key_of(event["ResponseURL"]))
    assert body["Status"] == "SUCCESS"
    assert len(sleeps) == 1
    assert 10 < sleeps[0] < 17.5


@pytest.mark.parametrize(
    ("partition", "region"), [("aws-us-gov", "us-gov-west-1"), ("aws-cn", "cn-north-1")]
)
def test_partition_comes_from_the_stack_arn(stack, function, partition, region):
    import boto3

    client = boto3.client("iam", region_name=region)
    calls = CallRecorder(client)

    def answer_attach(**_):
        if partition == "aws-us-gov":
            # moto files GovCloud's managed policies under arn:aws:, so it would refuse
            # the right ARN; answer for it and check the ARN the function asked for.
            return AWSResponse("", 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}}
        return None

    client.meta.events.register("before-call.iam.AttachRolePolicy", answer_attach)
    function.client = client
    body = stack("abroad", partition=partition).create(
        CreateRedshiftRole="true", PropagationDelaySeconds="0"
    )

    assert body["Status"] == "SUCCESS", body["Reason"]
    # The ARN attributes are what IAM reports (moto files GovCloud roles under arn:aws:).
    assert body["Data"]["VpcRoleArn"] == client.get_role(RoleName="dms-vpc-role")["Role"]["Arn"]
    if partition == "aws-cn":
        assert body["Data"]["VpcRoleArn"] == "arn:aws-cn:iam::123456789012:role/dms-vpc-role"
    attached = [call.policy_arn for call in calls.take() if call.action == "AttachRolePolicy"]
    assert sorted(attached) == sorted(
        f"arn:{partition}:iam::aws:policy/service-role/{name}"
        for name in (
            "AmazonDMSVPCManagementRole",
            "AmazonDMSCloudWatchLogsRole",
            "AmazonDMSRedshiftS3Role",
        )
    )
    trust = client.get_role(RoleName=REDSHIFT_ROLE.name)["Role"]["AssumeRolePolicyDocument"]
    assert sorted(trust["Statement"][0]["Principal"]["Service"]) == [
        "dms.amazonaws.com",
        "redshift.amazonaws.com",
    ]
