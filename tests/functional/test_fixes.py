"""What issue 10 fixed that moto's IAM can show: each test failed on version 1 (b29f8af).

Section 2 ("Requests never delete, and never take back") and the items of
section 3 that do not depend on IAM's own unkindness; those that do are in
test_as_iam_behaves.py, against :class:`~testkit.unkind_iam.UnkindIam`. Each
docstring says what version 1 did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE, RoleSpec
from dms_prereq.ownership import ORIGIN_KEY
from dms_prereq.properties import PROPERTY_NAMES
from dms_prereq.request import claim_id_for

from testkit import ACCOUNT
from testkit.calls import CallRecorder
from testkit.console import make_console_role
from testkit.views import claimants, view
from tools.invoke import begin_operation

NO_WAIT = {"PropagationDelaySeconds": "0"}
DEFAULT_ROLES = (VPC_ROLE, CLOUDWATCH_LOGS_ROLE)
ANOTHER_ACCOUNT = "210987654321"


def claim_tag(stack_id: str, logical_id: str = "DmsRoles") -> str:
    return f"dms-prerequisite-roles:claim:{claim_id_for(stack_id, logical_id)}"


# -- section 2: requests never delete, and never take back ------------------------------


def test_a_delete_is_one_untag_role_per_role_whatever_it_enabled(stack, iam):
    """Version 1 read each role, then, for the last claim, detached the policy, read again
    and deleted the role: 9 calls here, and the role gone. Now: one UntagRole of this
    resource's claim on each of the three roles, enabled or not, and nothing else."""
    a = stack("one-role")
    a.create(CreateCloudWatchLogsRole="false", **NO_WAIT)
    calls = CallRecorder(iam)

    assert a.delete()["Status"] == "SUCCESS"

    # The three roles are released concurrently: compare without order.
    made = calls.take()
    assert sorted((c.action, c.role) for c in made) == sorted(
        ("UntagRole", role.name) for role in ROLES
    )
    role = view(iam, VPC_ROLE.name)
    assert role is not None
    assert role.claims == frozenset()
    assert role.attached == {VPC_ROLE.managed_policy}


def test_a_delete_releases_even_when_its_properties_are_invalid(stack, iam):
    """A Create that failed half-way over its properties still releases what it claimed:
    the Delete reads no property (spec, "Ownership"). A guard: version 1 did so too."""
    a = stack("half-made")
    assert a.create(**NO_WAIT)["Status"] == "SUCCESS"
    a.properties = {"CreateVpcRole": "maybe", "Colour": "blue"}

    assert a.delete()["Status"] == "SUCCESS"

    for role in DEFAULT_ROLES:
        assert claimants(iam, role.name) == set()


def test_an_update_only_adds_so_a_late_copy_of_an_older_update_takes_nothing_back(stack, iam):
    """Version 1 released a role on the Update that switched it off, deleting it with its
    last claim; a copy of that older Update delivered after a newer one that switched the
    role back on (Lambda delivers events at least once) deleted the role the newer Update
    had just answered for. Now an Update releases nothing."""
    a = stack("redelivered")
    a.create(CreateRedshiftRole="true", **NO_WAIT)
    assert a.update(CreateRedshiftRole="false", **NO_WAIT)["Status"] == "SUCCESS"
    older = a.history[-1]["request"]
    on = a.update(CreateRedshiftRole="true", **NO_WAIT)
    assert on["Status"] == "SUCCESS", on["Reason"]

    # The copy arrives while the stack runs another update of this resource, so the
    # request check (is it UPDATE_IN_PROGRESS?) lets it through: only add-only Updates
    # make it harmless.
    late = dict(older, RequestId="late-copy", ResponseURL=a.cfn.response_url())
    replayed = a.send(late)

    assert replayed["Status"] == "SUCCESS", replayed["Reason"]
    assert replayed["Data"]["RedshiftRoleArn"] == ""  # as that Update answered the first time
    role = view(iam, REDSHIFT_ROLE.name)
    assert role is not None
    assert role.claimants == {"redelivered"}
    assert role.attached == {REDSHIFT_ROLE.managed_policy}


def test_the_claims_value_is_the_stack_id(stack, iam):
    """Version 1 wrote ``<StackId> <LogicalResourceId>`` (cut to 256 characters); the sweep
    reads the StackId from the value and finds the resource by hashing the stack's logical
    ids, so the value is the StackId alone."""
    a = stack("valued", logical_id="SomeRoles")
    a.create(CreateRedshiftRole="true", **NO_WAIT)

    for role in ROLES:
        assert view(iam, role.name).tags[claim_tag(a.stack_id, "SomeRoles")] == a.stack_id


# -- section 3 ------------------------------------------------------------------------


def test_3_1_a_cancelled_create_releases_its_claims_under_an_id_cloudformation_made_up(stack, iam):
    """Version 1 released nothing for a Delete whose PhysicalResourceId was not the one it
    generates (while an Update under such an id claimed), so a create cancelled by another
    resource's failure, whose Delete carries an id CloudFormation made up, leaked its
    claims for good. Now Update and Delete both go by StackId + LogicalResourceId."""
    a = stack("cancelled")
    assert a.create(**NO_WAIT)["Status"] == "SUCCESS"
    a.physical_id = "cancelled-DmsRoles-1B2C3D4E5F6G"
    updated = a.update(CreateRedshiftRole="true", **NO_WAIT)
    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"] == a.physical_id
    assert claimants(iam, REDSHIFT_ROLE.name) == {"cancelled"}

    # Another resource fails: CloudFormation rolls the stack back and deletes this one.
    a.rolling_back = True
    body = a.delete()

    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "cancelled-DmsRoles-1B2C3D4E5F6G"
    for role in ROLES:
        assert claimants(iam, role.name) == set()


def test_3_3_a_stack_joining_a_role_made_moments_ago_waits_the_rest_of_the_delay(
    stack, iam, sleeps
):
    """Version 1 waited only when its own request created the role: the stack that lost
    the create race joined a role milliseconds old and answered at once, so its DMS
    resource could meet "not configured properly". Now it waits what is left of
    PropagationDelaySeconds from the role's CreateDate."""
    stack("winner").create(**NO_WAIT)
    assert sleeps == []
    created = max(iam.get_role(RoleName=r.name)["Role"]["CreateDate"] for r in DEFAULT_ROLES)

    before = datetime.now(UTC)
    body = stack("loser").create(PropagationDelaySeconds="10")
    after = datetime.now(UTC)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["CreatedRoles"] == ""
    assert len(sleeps) == 1
    ready = (created - before).total_seconds() + 10
    assert (created - after).total_seconds() + 10 <= sleeps[0] <= ready
    assert 8.0 < sleeps[0] < 10.0


@pytest.mark.parametrize(
    ("name", "value", "parameter"),
    [
        ("PermissionsBoundary", "arn:aws:iam::aws:policy/AWSDenyAll", "RolePermissionsBoundary"),
        ("Tags", [{"Key": "team", "Value": "data"}], "RoleTags"),
        ("RestrictToSourceAccount", "true", "RestrictToSourceAccount"),
    ],
)
def test_3_6_a_shared_roles_settings_are_the_deployments_not_a_stacks(
    stack, iam, name, value, parameter
):
    """Version 1 took them as properties of any stack: one stack's DenyAll boundary stopped
    DMS for all its neighbours. Now a Create that sets one answers FAILED naming the
    parameter of the deployment that holds it, and an Update ignores it (a rollback to
    version 1's properties must not fail) and changes nothing on the roles."""
    neighbour = stack("neighbour")
    neighbour.create(**NO_WAIT)
    before = {role.name: view(iam, role.name) for role in DEFAULT_ROLES}

    refused = stack("newcomer").create(**{name: value}, **NO_WAIT)
    ignored = neighbour.update(**{name: value}, **NO_WAIT)

    assert refused["Status"] == "FAILED"
    assert name in refused["Reason"]
    assert f"{parameter} parameter" in refused["Reason"]
    assert ignored["Status"] == "SUCCESS", ignored["Reason"]
    assert {role.name: view(iam, role.name) for role in DEFAULT_ROLES} == before


def test_3_8_the_unknown_property_reason_keeps_the_list_of_valid_names(stack):
    """Version 1 named every unknown property, then the valid ones, and cut the sentence at
    256 characters: with a few unknown names (a template written for another version),
    the list of valid names was what went."""
    unknown = {f"LegacySetting{i}ForAnOlderTemplateVersion": "x" for i in range(5)}

    body = stack("typo").create(**unknown)

    assert body["Status"] == "FAILED"
    assert len(body["Reason"]) <= 256
    assert body["Reason"].endswith(f"valid properties are {', '.join(PROPERTY_NAMES)}.")


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


DMS = {"Service": "dms.amazonaws.com"}
ALLOW_DMS = {"Effect": "Allow", "Principal": DMS, "Action": "sts:AssumeRole"}


def console_role_with_trust(iam: Any, role: RoleSpec, document: dict[str, Any]) -> None:
    iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(document))


@pytest.mark.parametrize(
    "document",
    [
        # Denies everyone but EC2: DMS included (IAM user guide, "AWS JSON policy
        # elements: NotPrincipal").
        trust(
            ALLOW_DMS,
            {
                "Effect": "Deny",
                "NotPrincipal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
        ),
        # Denies DMS every action but TagSession: sts:AssumeRole included.
        trust(ALLOW_DMS, {"Effect": "Deny", "Principal": DMS, "NotAction": "sts:TagSession"}),
    ],
    ids=["deny-not-principal", "deny-not-action"],
)
def test_3_9_a_trust_policy_whose_deny_stops_dms_is_refused(stack, iam, document):
    """Version 1 ignored NotPrincipal and NotAction, adopted these roles and handed out
    ARNs DMS cannot assume. Statements are now evaluated as IAM does for the service."""
    console_role_with_trust(iam, VPC_ROLE, document)

    body = stack("careful").create(**NO_WAIT)

    assert body["Status"] == "FAILED"
    assert VPC_ROLE.name in body["Reason"]
    assert "dms.amazonaws.com" in body["Reason"]
    untouched = view(iam, VPC_ROLE.name)
    assert untouched.tags == {}
    assert untouched.attached == frozenset()


@pytest.mark.parametrize(
    "document",
    [
        trust({"Effect": "Allow", "Principal": DMS, "Action": "sts:Assume*"}),
        trust({"Effect": "allow", "Principal": DMS, "Action": "sts:AssumeRole"}),
        trust({"Effect": "Allow", "Principal": DMS, "Action": ["STS:assumerole"]}),
        # The confused-deputy guard: deny unless the call comes from this account; DMS
        # calls from it, so the role is usable.
        trust(
            ALLOW_DMS,
            {
                "Effect": "Deny",
                "Principal": DMS,
                "Action": "sts:AssumeRole",
                "Condition": {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}},
            },
        ),
    ],
    ids=["wildcard-action", "lower-case-effect", "action-case", "conditional-deny"],
)
def test_3_9_a_trust_policy_that_lets_dms_assume_the_role_is_adopted(stack, iam, document):
    """Version 1 refused ``sts:Assume*`` and a lower-case ``Effect`` (IAM matches actions
    ignoring case, with wildcards), failing stacks over roles DMS can use. The action's
    case and the conditional Deny are guards: version 1 accepted those already."""
    console_role_with_trust(iam, VPC_ROLE, document)

    body = stack("accepting").create(**NO_WAIT)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["AdoptedRoles"] == VPC_ROLE.name
    adopted = view(iam, VPC_ROLE.name)
    assert adopted.trust == document  # never rewritten
    assert adopted.tags[ORIGIN_KEY] == "adopted"


def test_3_10_adopted_roles_lists_only_what_this_request_adopted(stack, iam):
    """Version 1 answered every Update with AdoptedRoles naming the roles adopted by the
    Create, as if adopted again."""
    make_console_role(iam, VPC_ROLE)
    a = stack("adopter")
    assert a.create(**NO_WAIT)["Data"]["AdoptedRoles"] == VPC_ROLE.name

    body = a.update(CreateRedshiftRole="true", **NO_WAIT)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["AdoptedRoles"] == ""
    assert body["Data"]["CreatedRoles"] == REDSHIFT_ROLE.name
    assert body["Data"]["VpcRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{VPC_ROLE.name}"


def test_3_11_propagation_delay_as_a_json_number_with_a_fraction_of_zero(stack, sleeps):
    """Version 1 refused the JSON number ``10.0`` (a template's ``!Ref`` of a Number
    parameter, or a CDK app, can send it)."""
    body = stack("numeric").create(PropagationDelaySeconds=3.0)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert len(sleeps) == 1
    assert 2.5 < sleeps[0] <= 3.0


def test_3_12_a_stack_of_another_account_gets_nothing_in_this_one(stack, iam):
    """Version 1 never compared the StackId's account with its own: a stack of another
    account whose ServiceToken named this function got the roles in this account. Now the
    Create answers FAILED naming both accounts, and the Delete SUCCESS, touching nothing."""
    stranger = stack("stranger", account=ANOTHER_ACCOUNT)
    mine = stack("mine")
    mine.create(**NO_WAIT)
    before = {role.name: view(iam, role.name) for role in ROLES}

    refused = stranger.create(CreateRedshiftRole="true", **NO_WAIT)
    deleted = stranger.delete()

    assert refused["Status"] == "FAILED"
    assert ANOTHER_ACCOUNT in refused["Reason"]
    assert ACCOUNT in refused["Reason"]
    assert len(refused["Reason"]) <= 256
    assert deleted["Status"] == "SUCCESS"
    assert {role.name: view(iam, role.name) for role in ROLES} == before


def log_records(lines: list[str]) -> list[dict[str, Any]]:
    """The function's structured log lines (Powertools writes one JSON object a line)."""
    records = []
    for line in lines:
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def test_3_13_a_users_mistake_is_one_warning_line_without_a_traceback(stack, function, cfn):
    """Version 1 logged an unknown property at ERROR with a traceback (crhelper's), as if
    the function were broken; it is the stack author's to fix: one WARNING line."""
    a = stack("mistaken")
    event = a.request("Create", {"Colour": "blue"})
    begin_operation(a.api, event)

    run = function.run(event)

    assert cfn.wait_for(cfn.key_of(event["ResponseURL"]))["Status"] == "FAILED"
    records = log_records(run.observed.lines)
    assert records, "the function logged nothing structured"
    assert [r["level"] for r in records if r["level"] in ("ERROR", "CRITICAL")] == []
    assert not any("Traceback" in line for line in run.observed.lines)
    warned = [r for r in records if r["level"] == "WARNING"]
    assert len(warned) == 1
    assert "'Colour'" in warned[0]["reason"]
