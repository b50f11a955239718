"""Several stacks, and roles made outside this project: who may delete what.

No request deletes a role or detaches a policy (spec, "Ownership"): a Delete
removes its own claim and nothing else, so roles stay, unclaimed, after the last
Delete, until the sweep (tests/functional/test_sweep.py) decides they may go.
"""

from __future__ import annotations

import json

import pytest
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, VPC_ROLE, RoleSpec
from dms_prereq.ownership import ORIGIN_KEY

from testkit.console import OWNERS_POLICY, add_owners_policy, console_trust, make_console_role
from testkit.views import claimants, view

DEFAULT_ROLES = (VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name)
NO_WAIT = {"PropagationDelaySeconds": "0"}
EC2 = ("ec2.amazonaws.com",)


def console_role(iam, role: RoleSpec, principals: tuple[str, ...] | None = None) -> None:
    """A role made by hand with no policy of DMS's, only an inline policy of its owner's."""
    make_console_role(iam, role, principals=principals, with_managed_policy=False)
    add_owners_policy(iam, role.name)


@pytest.mark.parametrize("first_deleted", ["a", "b"])
def test_two_stacks_share_roles_and_last_delete_leaves_them_unclaimed(stack, iam, first_deleted):
    stacks = {"a": stack("stack-a"), "b": stack("stack-b")}
    assert stacks["a"].create(**NO_WAIT)["Data"]["CreatedRoles"] != ""
    second = stacks["b"].create(**NO_WAIT)

    assert second["Status"] == "SUCCESS", second["Reason"]
    assert second["Data"]["CreatedRoles"] == ""
    assert second["Data"]["VpcRoleArn"] == view(iam, VPC_ROLE.name).arn
    for name in DEFAULT_ROLES:
        assert claimants(iam, name) == {"stack-a", "stack-b"}

    remaining = "b" if first_deleted == "a" else "a"
    assert stacks[first_deleted].delete()["Status"] == "SUCCESS"
    for name in DEFAULT_ROLES:
        assert claimants(iam, name) == {stacks[remaining].name}
        assert view(iam, name).attached  # the neighbour's roles still work

    assert stacks[remaining].delete()["Status"] == "SUCCESS"
    for name in DEFAULT_ROLES:
        left = view(iam, name)
        assert left is not None
        assert left.claims == frozenset()
        assert left.origin == "created"
        assert left.attached  # as DMS needs it, until the sweep decides it may go


def test_second_stack_repairs_drift_on_shared_role(stack, iam):
    stack("first").create(**NO_WAIT)
    policy = "arn:aws:iam::aws:policy/service-role/AmazonDMSVPCManagementRole"
    iam.detach_role_policy(RoleName=VPC_ROLE.name, PolicyArn=policy)
    iam.update_assume_role_policy(
        RoleName=VPC_ROLE.name, PolicyDocument=json.dumps(console_trust(VPC_ROLE, EC2))
    )

    body = stack("second").create(**NO_WAIT)

    assert body["Status"] == "SUCCESS", body["Reason"]
    role = view(iam, VPC_ROLE.name)
    assert role.attached == {"AmazonDMSVPCManagementRole"}
    assert role.trust["Statement"][0]["Principal"]["Service"] == ["dms.amazonaws.com"]


def test_console_role_is_adopted_and_never_deleted(stack, iam):
    console_role(iam, VPC_ROLE)
    a = stack("adopter")

    body = a.create(**NO_WAIT)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["AdoptedRoles"] == VPC_ROLE.name
    assert body["Data"]["CreatedRoles"] == CLOUDWATCH_LOGS_ROLE.name
    role = view(iam, VPC_ROLE.name)
    assert role.origin == "adopted"
    assert role.attached == {"AmazonDMSVPCManagementRole"}
    assert role.inline == {OWNERS_POLICY}

    assert a.delete()["Status"] == "SUCCESS"

    kept = view(iam, VPC_ROLE.name)
    assert kept is not None
    # Only the claim went; the origin mark stays until the sweep finds nobody claims the
    # role and leaves it as it was found (test_sweep).
    assert kept.tags == {ORIGIN_KEY: "adopted"}
    assert kept.inline == {OWNERS_POLICY}
    assert kept.attached == {"AmazonDMSVPCManagementRole"}
    assert kept.trust == role.trust
    assert view(iam, CLOUDWATCH_LOGS_ROLE.name).claims == frozenset()


def test_fail_policy_refuses_existing_foreign_role(stack, iam):
    console_role(iam, VPC_ROLE)

    body = stack("strict").create(ExistingRolePolicy="Fail", **NO_WAIT)

    assert body["Status"] == "FAILED"
    assert VPC_ROLE.name in body["Reason"]
    assert "ExistingRolePolicy" in body["Reason"]
    assert view(iam, VPC_ROLE.name).tags == {}


def test_foreign_trust_policy_is_refused_and_left_alone(stack, iam):
    ec2_trust = console_trust(CLOUDWATCH_LOGS_ROLE, EC2)
    console_role(iam, CLOUDWATCH_LOGS_ROLE, principals=EC2)
    a = stack("picky")

    body = a.create(**NO_WAIT)

    assert body["Status"] == "FAILED"
    assert CLOUDWATCH_LOGS_ROLE.name in body["Reason"]
    assert "dms.amazonaws.com" in body["Reason"]
    assert len(body["Reason"]) <= 256
    foreign = view(iam, CLOUDWATCH_LOGS_ROLE.name)
    assert foreign.trust == ec2_trust
    assert foreign.attached == set()
    assert foreign.tags == {}

    # CloudFormation then deletes the half-created resource: the role it did make loses
    # its claim (the sweep deletes it later), the foreign one stays exactly as it was.
    assert a.delete()["Status"] == "SUCCESS"
    made = view(iam, VPC_ROLE.name)
    assert made.origin == "created"
    assert made.claims == frozenset()
    assert view(iam, CLOUDWATCH_LOGS_ROLE.name) == foreign


def test_repeated_delete_and_delete_of_unknown_resource_succeed(stack, iam):
    a = stack("twice")
    a.create(**NO_WAIT)
    assert a.delete()["Status"] == "SUCCESS"
    assert a.delete()["Status"] == "SUCCESS"

    never = stack("never-created")
    never.physical_id = "DmsPrerequisiteRoles-00000000000000000000"
    assert never.delete()["Status"] == "SUCCESS"


def test_delete_of_other_physical_id_releases_the_resources_claims(stack, iam):
    """A Delete releases the claim of its StackId + LogicalResourceId whatever its
    PhysicalResourceId (spec, "Ownership"): the id never changes on Update, so no other
    resource can be behind it (version 1 released nothing here)."""
    a = stack("replaced")
    a.create(**NO_WAIT)
    a.physical_id = "some-other-id"

    body = a.delete()

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "some-other-id"  # answered with the id it was given
    for name in DEFAULT_ROLES:
        assert claimants(iam, name) == set()


def test_role_made_by_project_but_given_extra_policy_is_kept(stack, iam):
    a = stack("owner")
    a.create(**NO_WAIT)
    add_owners_policy(iam, VPC_ROLE.name)

    assert a.delete()["Status"] == "SUCCESS"

    kept = view(iam, VPC_ROLE.name)
    assert kept is not None
    assert kept.claims == set()
    assert kept.inline == {OWNERS_POLICY}
    assert kept.attached == {"AmazonDMSVPCManagementRole"}
    # The other role stays too, unclaimed: only the sweep deletes (test_sweep shows it
    # keeps the one with the owner's policy untouched).
    assert view(iam, CLOUDWATCH_LOGS_ROLE.name).claims == frozenset()
