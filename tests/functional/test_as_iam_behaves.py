"""What issue 10 fixed that only IAM as it really behaves shows, each failing on version 1.

moto is kinder than IAM (toolchain.md, "Where moto is kinder than AWS"): its
reads are always current, it never answers 409, it keeps ``Team`` and ``team``
as two tags, accepts a missing permissions boundary and always answers the ARN.
These tests run the function against :class:`~testkit.unkind_iam.UnkindIam`,
each switched to the one unkindness it is about (``configure``), and read what
IAM really holds from moto behind it (``truth``), never through the lag.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, VPC_ROLE
from dms_prereq.ownership import ROLE_TAGS_KEY, Ownership

from testkit import ACCOUNT
from testkit.console import console_trust
from testkit.unkind_iam import CONFLICT_CODES
from testkit.views import view

NO_WAIT = {"PropagationDelaySeconds": "0"}
DEFAULT_ROLES = (VPC_ROLE, CLOUDWATCH_LOGS_ROLE)
#: Ten AWS managed policies of nothing to do with DMS: IAM's default quota of managed
#: policies per role ("IAM and AWS STS quotas").
TEN_POLICIES = tuple(
    f"arn:aws:iam::aws:policy/{name}"
    for name in (
        "ReadOnlyAccess",
        "AmazonS3ReadOnlyAccess",
        "AWSCloudFormationReadOnlyAccess",
        "AWSCodeBuildReadOnlyAccess",
        "AWSBudgetsReadOnlyAccess",
        "AWSCodeDeployReadOnlyAccess",
        "AWSDataSyncReadOnlyAccess",
        "AWSCloudHSMReadOnlyAccess",
        "AWSCloudMapReadOnlyAccess",
        "AWSDirectConnectReadOnlyAccess",
    )
)


def arn_of(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def claims_on(truth: Any, name: str) -> dict[str, str]:
    role = view(truth, name)
    return dict(Ownership.of(role.tags).claims) if role else {}


def test_a_delete_right_after_its_create_releases_the_claim_no_read_shows_yet(
    unkind, unkind_stack, truth
):
    """Issue 10, section 2. Version 1's Delete read each role first and released only a
    claim the read showed; IAM's reads lag, so a Delete within seconds of its Create
    (a stack whose create fails elsewhere) read no claim and left it on the roles for
    good. Now it removes its claim key with one UntagRole per role, whatever a read says."""
    unkind.configure(min_lag=2.0, max_lag=2.0, arn_lag=0)
    a = unkind_stack("quick")
    assert a.create(**NO_WAIT)["Status"] == "SUCCESS"

    assert a.delete()["Status"] == "SUCCESS"

    for role in DEFAULT_ROLES:
        assert view(truth, role.name) is not None
        assert claims_on(truth, role.name) == {}


@pytest.mark.parametrize("code", CONFLICT_CODES)
def test_3_2_a_write_iam_refuses_for_now_is_retried_with_back_off(
    unkind, unkind_stack, truth, pauses, code
):
    """Version 1 answered FAILED at the first 409 (botocore's standard retry mode does not
    retry ConcurrentModification or EntityTemporarilyUnmodifiable). Now each write is
    retried with jittered back-off, and the stack never hears of it.

    One role, so the writes (and the seeded draws of which ones IAM refuses) come in one
    order every run."""
    unkind.configure(max_lag=0, arn_lag=0, conflict_rate=0.5, conflict_codes=(code,), seed=7)
    a = unkind_stack("contended")

    created = a.create(CreateCloudWatchLogsRole="false", **NO_WAIT)
    updated = a.update(CreateCloudWatchLogsRole="false", ExistingRolePolicy="Fail", **NO_WAIT)

    assert created["Status"] == "SUCCESS", created["Reason"]
    assert updated["Status"] == "SUCCESS", updated["Reason"]
    refused = unkind.stats()["conflicts_by_code"].get(code, 0)
    assert refused >= 2
    assert len(pauses) == refused
    role = view(truth, VPC_ROLE.name)
    assert set(Ownership.of(role.tags).claims.values()) == {a.stack_id}
    assert role.attached == {VPC_ROLE.managed_policy}


def test_3_4_a_role_of_the_right_name_at_another_path_is_refused(unkind, unkind_stack, truth):
    """Version 1 adopted ``/service-role/dms-vpc-role`` and handed out its ARN; DMS finds its
    roles only at path / and would never use it. Now the Create answers FAILED saying so,
    leaves the role alone, and the Delete still succeeds."""
    unkind.configure(max_lag=0, arn_lag=0)
    truth.create_role(
        RoleName=VPC_ROLE.name,
        Path="/service-role/",
        AssumeRolePolicyDocument=json.dumps(console_trust(VPC_ROLE)),
    )
    before = view(truth, VPC_ROLE.name)
    a = unkind_stack("misplaced")

    body = a.create(**NO_WAIT)

    assert body["Status"] == "FAILED"
    assert VPC_ROLE.name in body["Reason"]
    assert "/service-role/" in body["Reason"]
    assert "path /" in body["Reason"]
    assert view(truth, VPC_ROLE.name) == before
    assert a.delete()["Status"] == "SUCCESS"
    assert view(truth, VPC_ROLE.name) == before


def test_3_5_arn_attributes_are_built_never_read_from_get_role(unkind, unkind_stack):
    """Version 1 answered GetRole's ``Arn``; right after CreateRole IAM may put the role's
    unique id there (terraform-provider-aws #22018), so the stack that joined a new role
    got ``AROA...`` as VpcRoleArn. Now ARNs are built from partition, account and name."""
    unkind.configure(max_lag=0, arn_lag=60)
    stack_a, stack_b = unkind_stack("first"), unkind_stack("second")
    assert stack_a.create(**NO_WAIT)["Status"] == "SUCCESS"

    body = stack_b.create(**NO_WAIT)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert unkind.stats()["arn_as_unique_id"] >= 1  # GetRole did answer the unique id
    for role in DEFAULT_ROLES:
        assert body["Data"][role.arn_attribute] == arn_of(role.name)


def test_3_6_a_role_tag_renamed_only_in_case_keeps_its_value(
    unkind, unkind_stack, unkind_sweep, truth, monkeypatch
):
    """IAM compares tag keys ignoring case, keeping the case first written (IAM user guide,
    "Tagging IAM resources"). Version 1's Tags property did not: an Update from ``team`` to
    ``Team`` tagged Team (the same key to IAM) and then untagged team, and the tag was
    gone. The RoleTags setting, brought to the roles by the sweep, keeps it."""
    unkind.configure(max_lag=0, arn_lag=0)
    monkeypatch.setenv("ROLE_TAGS", "team=data")
    a = unkind_stack("tagged")
    assert a.create(**NO_WAIT)["Status"] == "SUCCESS"

    monkeypatch.setenv("ROLE_TAGS", "Team=data")
    unkind_sweep()

    for role in DEFAULT_ROLES:
        tags = view(truth, role.name).tags
        found = {key: value for key, value in tags.items() if key.lower() == "team"}
        assert list(found.values()) == ["data"]
        assert tags[ROLE_TAGS_KEY].lower() == "team"


def test_3_7_a_missing_boundary_policy_is_named_with_the_parameter_to_fix(
    unkind, unkind_stack, truth, monkeypatch
):
    """IAM answers NoSuchEntity about the boundary policy at CreateRole (moto accepts it).
    Version 1, given the boundary as a property, passed IAM's words on ("iam:CreateRole on
    dms-vpc-role failed with NoSuchEntity: ..."), which read as a missing role and name
    nothing to change (issue 10 saw "kept disappearing" when a later round met it). Now
    the reason says the policy does not exist and names the RolePermissionsBoundary
    parameter of the deployment; on version 1 the setting did not exist and the Create
    succeeded without a boundary."""
    unkind.configure(max_lag=0, arn_lag=0)
    missing = f"arn:aws:iam::{ACCOUNT}:policy/dms-boundary-never-made"
    monkeypatch.setenv("ROLE_PERMISSIONS_BOUNDARY", missing)
    a = unkind_stack("bounded")

    body = a.create(**NO_WAIT)

    assert body["Status"] == "FAILED"
    assert missing in body["Reason"]
    assert "RolePermissionsBoundary" in body["Reason"]
    assert "does not exist" in body["Reason"]
    assert "disappear" not in body["Reason"]
    assert len(body["Reason"]) <= 256
    for role in DEFAULT_ROLES:
        assert view(truth, role.name) is None
    assert a.delete()["Status"] == "SUCCESS"


def test_3_7_limit_exceeded_says_which_limit(unkind, unkind_stack, truth):
    """IAM answers LimitExceeded for tags per role, managed policies per role and roles per
    account alike; version 1 always advised removing tags. A role already holding the ten
    managed policies IAM allows by default now gets advice about policies."""
    unkind.configure(max_lag=0, arn_lag=0)
    truth.create_role(
        RoleName=VPC_ROLE.name, AssumeRolePolicyDocument=json.dumps(console_trust(VPC_ROLE))
    )
    for policy in TEN_POLICIES:
        truth.attach_role_policy(RoleName=VPC_ROLE.name, PolicyArn=policy)

    body = unkind_stack("eleventh").create(CreateCloudWatchLogsRole="false", **NO_WAIT)

    assert body["Status"] == "FAILED"
    assert "managed policies" in body["Reason"]
    assert "tags" not in body["Reason"]
    assert VPC_ROLE.managed_policy_arn("aws") not in view(truth, VPC_ROLE.name).policy_arns
