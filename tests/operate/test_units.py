"""The command-line tool's pure parts: action coverage, claims in words, the known versions."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from dms_prereq.catalogue import ROLES
from dms_prereq.request import ResourceRef
from dms_prereq.stacks import ClaimCheck, Verdict
from dms_prereq.sweep import Kept, RoleReport
from dms_prereq_cli import actions, policies, sweep
from dms_prereq_cli.claims import Claim, count_by_verdict
from dms_prereq_cli.report import Progress

from testkit.stack import stack_id


def allow(*names: str, effect: str = "Allow", **extra: object) -> dict[str, object]:
    return {"Statement": [{"Effect": effect, "Action": list(names), "Resource": "*", **extra}]}


@pytest.mark.parametrize(
    ("pattern", "action", "covered"),
    [
        ("ec2:CreateNetworkInterface", "ec2:createnetworkinterface", True),
        ("ec2:*", "ec2:DescribeVpcs", True),
        ("ec2:Describe*", "ec2:DescribeVpcs", True),
        ("ec2:Describe*", "ec2:DeleteNetworkInterface", False),
        ("*", "s3:GetObject", True),
        ("s3:*", "s3:Get*", True),
        ("s3:GetObject", "s3:Get*", False),
        ("s3:Get?bject", "s3:GetObject", True),
        ("ec2:Describe.*", "ec2:DescribeVpcs", False),
    ],
)
def test_action_patterns_follow_iam_wildcards(pattern: str, action: str, covered: bool) -> None:
    assert actions.matches(pattern, action) is covered


def test_lacking_lists_what_no_allow_grants_in_managed_order() -> None:
    required = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]

    assert actions.lacking(required, [allow("logs:Create*")]) == ["logs:PutLogEvents"]


def test_an_unconditional_deny_takes_an_action_away() -> None:
    documents = [allow("ec2:*"), allow("ec2:DeleteNetworkInterface", effect="Deny")]

    assert actions.lacking(["ec2:DeleteNetworkInterface", "ec2:DescribeVpcs"], documents) == [
        "ec2:DeleteNetworkInterface"
    ]


def test_a_conditional_deny_does_not_count_against_coverage() -> None:
    deny = allow("ec2:*", effect="Deny", Condition={"Bool": {"aws:ViaAWSService": "false"}})

    assert actions.lacking(["ec2:DescribeVpcs"], [allow("ec2:*"), deny]) == []


def test_not_action_grants_everything_else() -> None:
    document = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}

    assert actions.lacking(["ec2:DescribeVpcs", "iam:PassRole"], [document]) == ["iam:PassRole"]


def claim(value: str, claim_id: str, verdict: Verdict | None = Verdict.LIVE) -> Claim:
    check = ClaimCheck(verdict, "stack CREATE_COMPLETE") if verdict else None
    return Claim("dms-vpc-role", claim_id, value, check)


def test_a_claim_names_its_stack_by_the_stack_id_it_holds() -> None:
    resource = ResourceRef.parse(stack_id("orders-dms"), "DmsRoles")

    shown = claim(resource.stack_id, resource.claim_id)

    assert shown.stack_display == "orders-dms"
    assert shown.logical_id is None
    assert shown.as_json()["region"] == "us-east-1"


def test_a_version_1_value_names_its_logical_id_when_it_reproduces_the_claim_id() -> None:
    resource = ResourceRef.parse(stack_id("orders-dms"), "DmsRoles")

    named = claim(f"{resource.stack_id} DmsRoles", resource.claim_id)
    edited = claim(f"{resource.stack_id} OtherRoles", resource.claim_id)

    assert named.stack_display == "orders-dms/DmsRoles"
    assert edited.stack_display == "orders-dms" and edited.logical_id is None


def test_a_value_that_names_no_stack_is_unreadable() -> None:
    garbage = claim("made by hand", "0" * 20, Verdict.UNCERTAIN)

    assert garbage.unreadable
    assert "names no stack" in garbage.stack_display


def test_claims_are_counted_by_verdict() -> None:
    claims = [
        claim(stack_id("a"), "1" * 20),
        claim(stack_id("b"), "2" * 20, Verdict.STALE),
        claim(stack_id("c"), "3" * 20),
        claim(stack_id("d"), "4" * 20, None),
    ]

    assert count_by_verdict(claims) == "2 live, 1 stale, 1 not judged"
    assert count_by_verdict([]) == "none"


def test_known_versions_cover_exactly_the_catalogue_policies() -> None:
    assert set(policies.KNOWN_VERSIONS) == {role.managed_policy for role in ROLES}


def test_version_numbers_compare_as_numbers() -> None:
    assert policies.version_number("v10") > policies.version_number("v9")


def test_progress_shows_on_a_terminal_and_never_when_quiet() -> None:
    seen, hidden = io.StringIO(), io.StringIO()

    with Progress(err=seen, live=True).step("looking up stacks"):
        pass
    with Progress(quiet=True, err=hidden, live=True).step("looking up stacks"):
        pass

    assert "looking up stacks" in seen.getvalue()
    assert hidden.getvalue() == ""


def test_the_sweeps_plan_speaks_of_what_it_would_do_until_applied() -> None:
    report = RoleReport("dms-vpc-role", origin="created", released=["1" * 20], marked=True)
    report.kept, report.why = Kept.RETENTION, "marked unclaimed now"
    report.deletable_after = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)

    planned = sweep.outcome(report, exists=True, applied=False)
    done = sweep.outcome(report, exists=True, applied=True)

    assert planned == (
        "would release 1 stale claim; would mark it unclaimed; keeps it: within retention"
    )
    assert done == "released 1 stale claim; marked it unclaimed; keeps it: within retention"
    assert sweep.deletable(report) == "from 2026-12-01T04:00:00Z"


@pytest.mark.parametrize(
    ("kept", "why", "plan", "when"),
    [
        (Kept.DRY_RUN, "would be deleted", "would delete it", "now"),
        (
            Kept.NEVER,
            "UnclaimedRoleRetentionMinutes is Never",
            "keeps it: retention Never (UnclaimedRoleRetentionMinutes is Never)",
            "-",
        ),
        (Kept.DMS_USES_IT, "eu-west-1: 1 replication subnet groups", "keeps it: DMS uses it", "-"),
        (
            Kept.OTHER_HOLDS,
            "inline policy x",
            "keeps it: carries something else (inline policy x)",
            "-",
        ),
    ],
)
def test_the_plan_says_why_a_role_stays_unless_another_column_does(
    kept: Kept, why: str, plan: str, when: str
) -> None:
    report = RoleReport("dms-vpc-role", origin="created", kept=kept, why=why)
    report.deletable_after = datetime(2026, 12, 1, tzinfo=UTC)

    assert sweep.outcome(report, exists=True, applied=False) == plan
    assert sweep.deletable(report) == when


def test_an_adopted_or_foreign_role_is_never_the_sweeps_to_delete() -> None:
    adopted = RoleReport("dms-vpc-role", origin="adopted", kept=Kept.CLAIMED)
    foreign = RoleReport("dms-vpc-role")
    failed = RoleReport("dms-vpc-role", origin="created", failed="iam:GetRole denied")

    assert sweep.outcome(adopted, exists=True, applied=False) == (
        "keeps it: claimed; never deletes it (adopted)"
    )
    assert sweep.outcome(foreign, exists=True, applied=False) == (
        "never touches it (not this project's)"
    )
    assert sweep.outcome(failed, exists=True, applied=False) == "stopped: iam:GetRole denied"
    assert sweep.outcome(None, exists=False, applied=False) == "nothing to do (absent)"
