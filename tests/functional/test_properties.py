"""ResourceProperties and the deployment's settings: coercion of CloudFormation's strings,
clear errors for bad input, and what a shared role may hold only once.

A permissions boundary, tags and the aws:SourceAccount condition are account
settings (spec, "Account settings"): environment variables of the function,
set here with ``monkeypatch.setenv``, applied when this project creates a role
and brought up to date by the sweep.
"""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, VPC_ROLE

from testkit import ACCOUNT
from testkit.calls import CallRecorder
from testkit.console import (
    console_trust,
    make_console_role,
    make_policy,
)
from testkit.stack import load_event
from testkit.views import view
from tools.invoke import begin_operation

CREATED = (VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name)


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"CreateVpcRol": "true"}, "CreateVpcRol"),
        ({"CreateVpcRole": "yes"}, "CreateVpcRole"),
        ({"CreateRedshiftRole": "1"}, "CreateRedshiftRole"),
        ({"ExistingRolePolicy": "Overwrite"}, "ExistingRolePolicy"),
        ({"PropagationDelaySeconds": "301"}, "PropagationDelaySeconds"),
        ({"PropagationDelaySeconds": "-1"}, "PropagationDelaySeconds"),
        ({"PropagationDelaySeconds": "ten"}, "PropagationDelaySeconds"),
        # Moved to the deployment (spec, "Account settings"): whatever the value, a Create
        # names the parameter that now holds it. What makes a tag or a boundary invalid
        # is now the settings' (tests/unit/test_account_settings.py).
        ({"RestrictToSourceAccount": "maybe"}, "RestrictToSourceAccount parameter"),
        ({"PermissionsBoundary": "dms-boundary"}, "RolePermissionsBoundary parameter"),
        ({"Tags": "team=data"}, "RoleTags parameter"),
        ({"Tags": [{"Key": "team", "Value": "data"}]}, "RoleTags parameter"),
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


def test_sample_invalid_event_fails_with_reason(function, cfn, cfn_api):
    event = load_event("create-invalid")
    event["ResponseURL"] = cfn.response_url()
    begin_operation(cfn_api, event)  # as CloudFormation shows it while it waits

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


def test_account_boundary_and_tags_are_set_then_changed_and_removed_by_the_sweep(
    stack, iam, sweep, monkeypatch
):
    """RolePermissionsBoundary and RoleTags: set on the roles this project creates, never
    on one it adopts; when the deployment changes them, the sweep changes the boundary and
    the tags, and removes a tag it set that the setting no longer names, and no other."""
    boundary, other = make_policy(iam, "dms-boundary"), make_policy(iam, "dms-boundary-v2")
    make_console_role(iam, REDSHIFT_ROLE)  # somebody else's: settings never touch it
    monkeypatch.setenv("ROLE_PERMISSIONS_BOUNDARY", boundary)
    monkeypatch.setenv("ROLE_TAGS", "team=data,cost-centre=42")
    a = stack("governed")
    body = a.create(CreateRedshiftRole="true", PropagationDelaySeconds="0")
    assert body["Status"] == "SUCCESS", body["Reason"]
    for name in CREATED:
        role = view(iam, name)
        assert role.boundary == boundary
        assert role.tags["team"] == "data"
        assert role.tags["cost-centre"] == "42"
    adopted = view(iam, REDSHIFT_ROLE.name)
    assert adopted.boundary is None
    assert "team" not in adopted.tags
    iam.tag_role(RoleName=VPC_ROLE.name, Tags=[{"Key": "note", "Value": "by hand"}])

    monkeypatch.setenv("ROLE_PERMISSIONS_BOUNDARY", other)
    monkeypatch.setenv("ROLE_TAGS", "team=platform")
    # An Update creates nothing, so it applies nothing: the sweep brings the roles over.
    assert a.update(CreateRedshiftRole="true", PropagationDelaySeconds="0")["Status"] == "SUCCESS"
    assert view(iam, VPC_ROLE.name).boundary == boundary
    summary = sweep()

    for name in CREATED:
        role = view(iam, name)
        assert role.boundary == other
        assert role.tags["team"] == "platform"
        assert "cost-centre" not in role.tags
        assert "boundary set" in summary["settings_applied"][name]
    assert view(iam, VPC_ROLE.name).tags["note"] == "by hand"
    assert view(iam, REDSHIFT_ROLE.name) == adopted
    assert REDSHIFT_ROLE.name not in summary["settings_applied"]

    monkeypatch.setenv("ROLE_PERMISSIONS_BOUNDARY", "none")
    monkeypatch.delenv("ROLE_TAGS")
    sweep()
    for name in CREATED:
        role = view(iam, name)
        assert role.boundary is None
        assert "team" not in role.tags
        assert role.claimants == {"governed"}


def test_a_bad_account_setting_fails_a_create_naming_its_parameter(stack, iam, monkeypatch):
    monkeypatch.setenv("ROLE_TAGS", "aws:team=data")
    a = stack("misdeployed")

    body = a.create(PropagationDelaySeconds="0")

    assert body["Status"] == "FAILED"
    assert "RoleTags" in body["Reason"]
    assert view(iam, VPC_ROLE.name) is None
    assert a.delete()["Status"] == "SUCCESS"


def test_restrict_to_source_account_adds_condition_when_the_role_is_created(
    stack, iam, monkeypatch
):
    """RestrictToSourceAccount shapes the trust policy of a role this project creates; an
    existing role's trust is never rewritten for it, either way (DMS honours the
    condition only from engine 3.4.7, so a running older instance would break)."""
    monkeypatch.setenv("RESTRICT_TO_SOURCE_ACCOUNT", "true")
    a = stack("restricted")
    a.create(PropagationDelaySeconds="0")
    statement = view(iam, VPC_ROLE.name).trust["Statement"][0]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}

    monkeypatch.setenv("RESTRICT_TO_SOURCE_ACCOUNT", "false")
    body = a.update(RestrictToSourceAccount="false", PropagationDelaySeconds="3")
    joined = stack("unrestricted").create(PropagationDelaySeconds="0")

    assert body["Status"] == "SUCCESS", body["Reason"]  # the old property is ignored
    assert joined["Status"] == "SUCCESS", joined["Reason"]
    assert view(iam, VPC_ROLE.name).trust["Statement"][0] == statement


def test_trust_repair_on_update_waits_for_propagation(stack, iam, sleeps):
    """A role this project created whose trust policy was changed by hand gets the
    catalogue's back, and the Update then waits the whole delay: it is new to IAM."""
    a = stack("waits")
    a.create(PropagationDelaySeconds="0")
    iam.update_assume_role_policy(
        RoleName=VPC_ROLE.name,
        PolicyDocument=json.dumps(console_trust(VPC_ROLE, ("ec2.amazonaws.com",))),
    )

    body = a.update(PropagationDelaySeconds="4")

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert view(iam, VPC_ROLE.name).trust == VPC_ROLE.trust_policy(None)
    assert len(sleeps) == 1
    assert 3.5 < sleeps[0] <= 4.0


def test_propagation_wait_is_cut_to_the_time_left(function, cfn, cfn_api, sleeps):
    event = load_event("create")
    event["ResponseURL"] = cfn.response_url()
    event["ResourceProperties"]["PropagationDelaySeconds"] = "300"
    begin_operation(cfn_api, event)

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
    # Built from the stack's partition and account, whatever IAM's GetRole says (moto files
    # GovCloud roles under arn:aws:, and IAM may answer a unique id for a new role).
    assert body["Data"]["VpcRoleArn"] == f"arn:{partition}:iam::{ACCOUNT}:role/dms-vpc-role"
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
