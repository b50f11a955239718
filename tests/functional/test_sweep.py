"""The sweep (issue 11): CloudFormation is the source of truth, and only the sweep deletes.

The function runs on its scheduled event (events/scheduled.json) in-process,
against moto's IAM; CloudFormation's stack reads come from
:class:`~testkit.cfn_api.CloudFormationApi` (what ``stack`` plays, then what a
test changes there without any request reaching the function), and DMS from
:class:`~testkit.dms_api.DmsApi` in front of moto_server's, asked in three
regions. The deployment is the one tests and demos use: retention 0 (a role
nobody claims goes at the sweep after the one that marks it) and no settle time
(``sweep`` in tests/functional/conftest.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE
from dms_prereq.ownership import DELETING_SINCE_KEY, UNCLAIMED_SINCE_KEY

from testkit.console import (
    OWNERS_MANAGED_POLICY,
    OWNERS_POLICY,
    add_owners_policy,
    make_console_role,
)
from testkit.stack import load_event
from testkit.views import claimants, view
from tests.functional.conftest import DMS_REGIONS

NO_WAIT = {"PropagationDelaySeconds": "0"}
DEFAULT_ROLES = (VPC_ROLE, CLOUDWATCH_LOGS_ROLE)
OTHER_REGION, FAR_REGION = DMS_REGIONS[1], DMS_REGIONS[2]


def made_and_left(stack: Any, name: str = "left", **properties: Any) -> None:
    """A stack that made the roles and was deleted: the roles stay, unclaimed."""
    a = stack(name)
    assert a.create(**NO_WAIT, **properties)["Status"] == "SUCCESS"
    assert a.delete()["Status"] == "SUCCESS"


def test_stale_claims_are_released_and_live_ones_kept(stack, iam, cfn_api, sweep):
    """A claim is stale when its stack, asked in its own region, is deleted or unknown, or
    settled without the resource (absent, DELETE_COMPLETE or DELETE_SKIPPED). A stack in
    an operation keeps every claim: its resources may be on their way in or out."""
    names = ("deleted", "unknown", "removed", "retained", "rolled-back", "busy", "live")
    stacks = {name: stack(name) for name in names}
    for each in stacks.values():
        assert each.create(**NO_WAIT)["Status"] == "SUCCESS"
    ids = {name: each.stack_id for name, each in stacks.items()}
    # What CloudFormation did without a Delete reaching the function (one that failed its
    # check, or never came: a stack deleted while the function could not be invoked).
    cfn_api.delete_stack(ids["deleted"])
    cfn_api.forget_stack(ids["unknown"])
    cfn_api.remove_resource(ids["removed"], "DmsRoles")
    cfn_api.put_stack(ids["removed"], "UPDATE_COMPLETE")
    cfn_api.put_resource(ids["retained"], "DmsRoles", "DELETE_SKIPPED")
    cfn_api.put_stack(ids["retained"], "UPDATE_COMPLETE")
    cfn_api.put_resource(ids["rolled-back"], "DmsRoles", "DELETE_COMPLETE")
    cfn_api.put_stack(ids["rolled-back"], "ROLLBACK_COMPLETE")
    cfn_api.remove_resource(ids["busy"], "DmsRoles")
    cfn_api.put_stack(ids["busy"], "UPDATE_IN_PROGRESS")

    summary = sweep()

    for role in DEFAULT_ROLES:
        assert claimants(iam, role.name) == {"busy", "live"}
        assert view(iam, role.name).attached == {role.managed_policy}
        assert summary["roles_kept"][role.name] == "claimed: 2 claim(s)"
    assert summary["stale_claims_released"] == 5 * len(DEFAULT_ROLES)
    assert summary["roles_marked"] == summary["roles_deleted"] == 0


def test_a_claim_whose_stack_cannot_be_read_is_kept(stack, iam, cfn_api, sweep):
    """Anything uncertain keeps the claim, and says where the lookup failed."""
    a = stack("unreadable")
    a.create(**NO_WAIT)
    cfn_api.delete_stack(a.stack_id)  # stale, if only the sweep could tell
    cfn_api.deny("DescribeStacks", a.stack_id)

    kept = sweep()

    for role in DEFAULT_ROLES:
        assert claimants(iam, role.name) == {"unreadable"}
    assert kept["stale_claims_released"] == 0
    assert kept["failed_lookups"] == {"us-east-1": len(DEFAULT_ROLES)}

    cfn_api.allow("DescribeStacks", a.stack_id)
    released = sweep()

    assert released["stale_claims_released"] == len(DEFAULT_ROLES)
    assert released["failed_lookups"] == {}


def test_a_role_nobody_claims_is_marked_then_deleted_at_the_next_sweep(stack, iam, sweep, sleeps):
    made_and_left(stack)

    marked = sweep()

    assert marked["roles_marked"] == len(DEFAULT_ROLES)
    for role in DEFAULT_ROLES:
        assert UNCLAIMED_SINCE_KEY in view(iam, role.name).tags
    assert sleeps == []  # marking is no deletion: no settle time

    deleted = sweep()

    assert deleted["roles_deleted"] == len(DEFAULT_ROLES)
    for role in DEFAULT_ROLES:
        assert view(iam, role.name) is None
    # Two phases per role (mark deleting-since, settle; detach, settle), settle time 0.
    assert sleeps == [0.0] * 2 * len(DEFAULT_ROLES)
    asked = {region for region, _ in sweep.dms_api.calls()}
    assert asked == set(DMS_REGIONS)


@pytest.mark.parametrize(
    ("make", "undo", "kept"),
    [
        pytest.param(
            lambda sweep: sweep.dms(OTHER_REGION).create_replication_subnet_group(
                ReplicationSubnetGroupIdentifier="console-made",
                ReplicationSubnetGroupDescription="made in the DMS console",
                SubnetIds=["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
            ),
            lambda sweep: sweep.dms(OTHER_REGION).delete_replication_subnet_group(
                ReplicationSubnetGroupIdentifier="console-made"
            ),
            {VPC_ROLE.name: f"DMS uses it: {OTHER_REGION}: 1 replication subnet groups"},
            id="subnet-group",
        ),
        pytest.param(
            lambda sweep: sweep.dms_api.add_replication_config(FAR_REGION, "serverless"),
            lambda sweep: sweep.dms_api.remove_replication_config(FAR_REGION, "serverless"),
            {
                role.name: f"DMS uses it: {FAR_REGION}: 1 serverless replication configs"
                for role in DEFAULT_ROLES
            },
            id="replication-config",
        ),
        pytest.param(
            lambda sweep: sweep.dms(OTHER_REGION).create_endpoint(
                EndpointIdentifier="warehouse", EndpointType="target", EngineName="redshift"
            ),
            lambda sweep: sweep.dms(OTHER_REGION).delete_endpoint(
                EndpointArn=sweep.dms(OTHER_REGION).describe_endpoints()["Endpoints"][0][
                    "EndpointArn"
                ]
            ),
            {REDSHIFT_ROLE.name: f"DMS uses it: {OTHER_REGION}: 1 redshift endpoints"},
            id="redshift-endpoint",
        ),
        pytest.param(
            lambda sweep: sweep.dms_api.fail_region(FAR_REGION),
            lambda sweep: sweep.dms_api.heal_region(FAR_REGION),
            {role.name: f"uncertain: could not ask DMS in {FAR_REGION}" for role in ROLES},
            id="region-fails",
        ),
    ],
)
def test_a_role_dms_uses_in_any_region_is_never_deleted(stack, iam, sweep, make, undo, kept):
    """DMS finds its roles by name: a subnet group, serverless config or Redshift endpoint
    made in the console relies on them without any claim. While DMS has one in any region
    asked, or a region cannot be asked, the role stays; once it is gone, the role goes."""
    made_and_left(stack, CreateRedshiftRole="true")
    sweep()  # marks them
    make(sweep)

    held = sweep()

    assert set(held["roles_kept"]) == set(kept)
    for name, why in kept.items():
        assert held["roles_kept"][name].startswith(why)
    failed = {FAR_REGION: 1} if "uncertain" in next(iter(kept.values())) else {}
    assert held["failed_lookups"] == failed
    for role in ROLES:
        left = view(iam, role.name)
        assert (left is not None) is (role.name in kept)
        if left is not None:
            assert left.attached == {role.managed_policy}
            assert DELETING_SINCE_KEY not in left.tags

    undo(sweep)
    gone = sweep()

    assert gone["roles_deleted"] == len(kept)
    assert [role.name for role in ROLES if view(iam, role.name)] == []


def test_a_created_role_carrying_something_else_is_kept_untouched(stack, iam, sweep):
    """Somebody attached a policy of their own, or put an inline one: the role is theirs
    now too. The sweep neither detaches nor deletes; it says why in the summary."""
    made_and_left(stack)
    iam.attach_role_policy(RoleName=VPC_ROLE.name, PolicyArn=OWNERS_MANAGED_POLICY)
    add_owners_policy(iam, CLOUDWATCH_LOGS_ROLE.name)
    sweep()

    summary = sweep()

    assert summary["roles_deleted"] == 0
    assert summary["roles_kept"] == {
        VPC_ROLE.name: f"carries something else: attached policy {OWNERS_MANAGED_POLICY}",
        CLOUDWATCH_LOGS_ROLE.name: f"carries something else: inline policy {OWNERS_POLICY}",
    }
    assert view(iam, VPC_ROLE.name).policy_arns == {
        VPC_ROLE.managed_policy_arn("aws"),
        OWNERS_MANAGED_POLICY,
    }
    assert view(iam, CLOUDWATCH_LOGS_ROLE.name).inline == {OWNERS_POLICY}
    for role in DEFAULT_ROLES:
        assert DELETING_SINCE_KEY not in view(iam, role.name).tags


@pytest.mark.parametrize("released_by", ["its Delete", "the sweep"])
def test_an_adopted_role_nobody_claims_is_left_as_it_was_found(
    stack, iam, cfn_api, sweep, released_by
):
    """A role this project did not create is never deleted: once nobody claims it, the
    sweep removes this project's tags and nothing else, whoever released the last claim."""
    found = make_console_role(iam, VPC_ROLE, owners_policies=True)
    a = stack("adopter")
    assert a.create(**NO_WAIT)["Data"]["AdoptedRoles"] == VPC_ROLE.name
    if released_by == "its Delete":
        assert a.delete()["Status"] == "SUCCESS"
    else:
        cfn_api.delete_stack(a.stack_id)

    first = sweep()
    second = sweep()

    assert first["adopted_roles_untagged"] == 1
    assert view(iam, VPC_ROLE.name) == found
    assert second["adopted_roles_untagged"] == 0  # nothing of this project's left on it
    assert VPC_ROLE.name not in second["roles_kept"]
    assert view(iam, CLOUDWATCH_LOGS_ROLE.name) is None  # the one it created is gone


def test_a_claimed_role_that_lost_its_policy_gets_it_back(stack, iam, sweep):
    stack("keeper").create(**NO_WAIT)
    policy = VPC_ROLE.managed_policy_arn("aws")
    iam.detach_role_policy(RoleName=VPC_ROLE.name, PolicyArn=policy)

    summary = sweep()

    assert summary["policies_reattached"] == 1
    assert view(iam, VPC_ROLE.name).policy_arns == {policy}


def test_one_describe_stacks_per_distinct_stack_each_in_its_own_region(
    stack, iam, cfn_api, sweep, monkeypatch
):
    """However many roles and resources a stack claims with, the sweep asks
    CloudFormation about it once, in the stack's region (a stack of another region
    claims the global roles through that region's deployment).

    CloudFormation answers in a tenth of a second here, as it takes its time in AWS, so
    the three roles, swept at once, ask about the same stacks at the same moment."""
    everything = {"CreateRedshiftRole": "true", **NO_WAIT}
    stack("twin", logical_id="FirstRoles").create(**everything)
    stack("twin", logical_id="SecondRoles").create(**everything)
    stack("single").create(**everything)
    stack("abroad", region=OTHER_REGION).create(**everything)
    before = len(cfn_api.requests())
    answer = cfn_api.handle

    def slowly(request: Any) -> Any:
        time.sleep(0.1)
        return answer(request)

    monkeypatch.setattr(cfn_api, "handle", slowly)

    summary = sweep()

    asked = cfn_api.requests()[before:]
    for action in ("DescribeStacks", "ListStackResources"):
        assert sorted((r.region, r.stack.split("/")[1]) for r in asked if r.action == action) == [
            (OTHER_REGION, "abroad"),
            ("us-east-1", "single"),
            ("us-east-1", "twin"),
        ]
    assert summary["stacks_asked"] == 3
    for role in ROLES:
        assert claimants(iam, role.name) == {"twin", "single", "abroad"}
        assert summary["roles_kept"][role.name] == "claimed: 4 claim(s)"


def test_the_summary_and_the_metrics_say_what_was_done(stack, iam, cfn_api, function, sweep):
    """The function returns the summary (the one summary log line's fields) and emits
    Powertools metrics in CloudWatch's embedded metric format, namespace
    DmsPrerequisiteRoles."""
    stack("keeper").create(**NO_WAIT)
    leaver = stack("leaver")
    leaver.create(
        CreateVpcRole="false",
        CreateCloudWatchLogsRole="false",
        CreateRedshiftRole="true",
        **NO_WAIT,
    )
    cfn_api.delete_stack(leaver.stack_id)
    iam.detach_role_policy(RoleName=VPC_ROLE.name, PolicyArn=VPC_ROLE.managed_policy_arn("aws"))

    run = function.run(load_event("scheduled"))

    assert run.error is None
    assert run.value == {
        "apply": True,
        "stale_claims_released": 1,
        "roles_marked": 1,
        "roles_deleted": 0,
        "roles_kept": {
            VPC_ROLE.name: "claimed: 1 claim(s)",
            CLOUDWATCH_LOGS_ROLE.name: "claimed: 1 claim(s)",
            REDSHIFT_ROLE.name: "within retention: marked unclaimed now",
        },
        "policies_reattached": 1,
        "adopted_roles_untagged": 0,
        "settings_applied": {},
        "failed_lookups": {},
        "stacks_asked": 2,
    }
    records = [json.loads(line) for line in run.observed.lines if line.startswith("{")]
    summaries = [r["sweep"] for r in records if r.get("message") == "sweep finished"]
    assert summaries == [run.value]  # one summary line, with the fields returned
    metrics = [r for r in records if "_aws" in r]
    counts = next(m for m in metrics if "StaleClaimsReleased" in m)
    assert counts["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DmsPrerequisiteRoles"

    def total(name: str) -> float:
        # EMF holds a value, or a list of the values added in one flush.
        value = counts[name]
        return float(sum(value)) if isinstance(value, list) else float(value)

    assert (total("StaleClaimsReleased"), total("RolesMarked")) == (1, 1)
    assert (total("RolesDeleted"), total("PoliciesReattached")) == (0, 1)
    assert total("FailedLookups") == 0
