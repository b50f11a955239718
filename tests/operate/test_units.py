"""The command-line tool's pure parts: action coverage, claim labels, the known versions."""

from __future__ import annotations

import io

import pytest
from dms_prereq.catalogue import ROLES
from dms_prereq.request import ResourceRef
from dms_prereq_cli import actions, policies
from dms_prereq_cli.claims import Claim
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


def test_a_claim_label_names_its_stack_and_logical_id() -> None:
    resource = ResourceRef.parse(stack_id("orders-dms"), "DmsRoles")

    claim = Claim.from_tag(resource.claim_id, resource.label)

    assert claim.resource == resource
    assert claim.display == "orders-dms/DmsRoles"


def test_a_label_that_does_not_reproduce_the_claim_id_is_unreadable() -> None:
    resource = ResourceRef.parse(stack_id("orders-dms"), "DmsRoles")

    edited = Claim.from_tag(resource.claim_id, f"{resource.stack_id} OtherRoles")
    garbage = Claim.from_tag(resource.claim_id, "made by hand")

    assert edited.resource is None and garbage.resource is None
    assert "unreadable" in garbage.display


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
