"""Create, Update and Delete of one resource, as CloudFormation and IAM see them."""

from __future__ import annotations

import json
import time

from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE

from testkit import ACCOUNT
from testkit.views import claimants, view

DEFAULT_ROLES = (VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name)


def arn_of(name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{ACCOUNT}:role/{name}"


def test_create_makes_both_default_roles_with_policy_trust_and_claim(stack, iam, sleeps):
    a = stack("pipeline-a")
    body = a.create(PropagationDelaySeconds="7")

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["CreatedRoles"] == "dms-vpc-role,dms-cloudwatch-logs-role"
    assert body["Data"]["AdoptedRoles"] == ""
    assert body["Data"]["RedshiftRoleArn"] == ""
    for name, policy in (
        (VPC_ROLE.name, "AmazonDMSVPCManagementRole"),
        (CLOUDWATCH_LOGS_ROLE.name, "AmazonDMSCloudWatchLogsRole"),
    ):
        role = view(iam, name)
        assert role is not None
        assert role.origin == "created"
        assert role.attached == {policy}
        assert role.trust["Statement"][0]["Principal"]["Service"] == ["dms.amazonaws.com"]
        assert claimants(iam, name) == {"pipeline-a"}
    assert body["Data"]["VpcRoleArn"] == view(iam, VPC_ROLE.name).arn == arn_of(VPC_ROLE.name)
    assert view(iam, REDSHIFT_ROLE.name) is None
    # The wait runs from the roles' creation, so what is left of it is a little under 7 s.
    assert len(sleeps) == 1
    assert 6.5 < sleeps[0] <= 7.0


def test_create_with_redshift_trusts_dms_and_redshift(stack, iam):
    body = stack("warehouse").create(CreateRedshiftRole="true", PropagationDelaySeconds="0")

    assert body["Status"] == "SUCCESS", body["Reason"]
    role = view(iam, REDSHIFT_ROLE.name)
    assert role is not None
    assert role.attached == {"AmazonDMSRedshiftS3Role"}
    assert sorted(role.trust["Statement"][0]["Principal"]["Service"]) == [
        "dms.amazonaws.com",
        "redshift.amazonaws.com",
    ]
    assert body["Data"]["RedshiftRoleArn"] == role.arn
    assert body["Data"]["CreatedRoles"].split(",") == [*DEFAULT_ROLES, REDSHIFT_ROLE.name]


def test_update_toggles_each_role_off_and_on_again(stack, iam):
    """Updates only add claims (spec, "Ownership"): a role switched off gets an empty
    attribute but keeps this resource's claim, so switching it on finds it as it was."""
    a = stack("toggler")
    a.create(CreateRedshiftRole="true", PropagationDelaySeconds="0")
    for role in (VPC_ROLE, CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE):
        props = {"CreateRedshiftRole": "true", "PropagationDelaySeconds": "0"}
        off = a.update(**{**props, role.enable_property: "false"})
        assert off["Status"] == "SUCCESS", off["Reason"]
        assert off["Data"][role.arn_attribute] == ""
        kept = view(iam, role.name)
        assert kept is not None
        assert kept.claimants == {"toggler"}
        assert kept.attached == {role.managed_policy}
        on = a.update(**props)
        assert on["Status"] == "SUCCESS", on["Reason"]
        assert on["Data"][role.arn_attribute] == arn_of(role.name)
        assert on["Data"]["CreatedRoles"] == ""  # nothing was made: it never went
        assert claimants(iam, role.name) == {"toggler"}


def test_noop_update_keeps_roles_and_does_not_wait(stack, iam, function, sleeps):
    """The wait runs from the roles' CreateDate; this Create really waits it out (as it
    does in Lambda), so the Update that follows has nothing left to wait for."""

    def really_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    function.sleep = really_sleep
    a = stack("steady")
    a.create(PropagationDelaySeconds="1")
    before = {name: view(iam, name) for name in DEFAULT_ROLES}

    body = a.update(PropagationDelaySeconds="1")

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == a.physical_id
    assert body["Data"]["CreatedRoles"] == ""
    assert {name: view(iam, name) for name in DEFAULT_ROLES} == before
    assert len(sleeps) == 1  # the create waited; the update did not
    assert 0.5 < sleeps[0] <= 1.0


def test_failed_update_rolls_back_to_previous_state(stack, iam):
    a = stack("rolling")
    a.create(CreateRedshiftRole="true", PropagationDelaySeconds="0")
    before = {name: view(iam, name) for name in (*DEFAULT_ROLES, REDSHIFT_ROLE.name)}

    failed = a.update(CreateRedshiftRole="false", PropagationDelaySeconds="ten")
    assert failed["Status"] == "FAILED"
    assert "PropagationDelaySeconds" in failed["Reason"]
    rollback = a.rollback()

    assert rollback["Status"] == "SUCCESS", rollback["Reason"]
    assert {name: view(iam, name) for name in before} == before


def test_rollback_of_a_successful_update_finds_the_role_still_claimed(stack, iam):
    """The Update released nothing (Updates only add), so the rollback that enables the
    role again finds it claimed, with its policy, and makes nothing."""
    a = stack("rolling")
    a.create(CreateRedshiftRole="true", PropagationDelaySeconds="0")
    a.update(CreateRedshiftRole="false", PropagationDelaySeconds="0")
    assert claimants(iam, REDSHIFT_ROLE.name) == {"rolling"}

    body = a.rollback()

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["RedshiftRoleArn"] == arn_of(REDSHIFT_ROLE.name)
    assert body["Data"]["CreatedRoles"] == ""
    assert claimants(iam, REDSHIFT_ROLE.name) == {"rolling"}
    assert view(iam, REDSHIFT_ROLE.name).attached == {"AmazonDMSRedshiftS3Role"}


def test_physical_id_is_deterministic_and_never_changes(stack):
    a = stack("ids")
    created = a.create(PropagationDelaySeconds="0")
    updated = a.update(CreateVpcRole="false", PropagationDelaySeconds="0")
    deleted = a.delete()
    again = stack("ids").create(PropagationDelaySeconds="0")

    ids = {b["PhysicalResourceId"] for b in (created, updated, deleted, again)}
    assert len(ids) == 1
    assert created["PhysicalResourceId"].startswith("DmsPrerequisiteRoles-")


def test_answer_fits_cloudformation_limits(stack):
    body = stack("x" * 120, logical_id="L" * 200).create(
        CreateRedshiftRole="true", PropagationDelaySeconds="0"
    )
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert len(json.dumps(body).encode()) <= 4096
    assert {body["Data"][role.arn_attribute] for role in ROLES} == {
        arn_of(role.name) for role in ROLES
    }
