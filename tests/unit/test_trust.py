"""Reading trust policies: who may assume a role, and whether two policies say the same.

Pure: documents in, answers out. These rules decide whether a role found in
the account can be adopted and whether a shared role's trust needs repair.
"""

from __future__ import annotations

from typing import Any

import pytest
from dms_prereq.catalogue import DMS_PRINCIPAL, REDSHIFT_PRINCIPAL, ROLES, RoleSpec
from dms_prereq.trust import allows_service, same_policy


def document(*statements: object) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(
    principal: object = None, action: object = "sts:AssumeRole", **extra: Any
) -> dict[str, Any]:
    principal = {"Service": DMS_PRINCIPAL} if principal is None else principal
    return {"Effect": "Allow", "Principal": principal, "Action": action, **extra}


def deny(principal: object = None, **extra: Any) -> dict[str, Any]:
    return {**allow(principal, **extra), "Effect": "Deny"}


SOURCE_ACCOUNT = {"StringEquals": {"aws:SourceAccount": "123456789012"}}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
@pytest.mark.parametrize("account", [None, "123456789012"])
def test_the_trust_policy_this_project_writes_lets_each_of_its_principals_in(
    role: RoleSpec, account: str | None
) -> None:
    trust = role.trust_policy(account)

    assert all(allows_service(trust, principal) for principal in role.principals)
    assert not allows_service(trust, "ec2.amazonaws.com")


@pytest.mark.parametrize(
    "statement",
    [
        allow({"Service": DMS_PRINCIPAL}),
        allow({"Service": [REDSHIFT_PRINCIPAL, DMS_PRINCIPAL]}),
        allow("*"),
        allow({"AWS": "*"}),
        allow(action="STS:assumerole"),
        allow(action=["sts:TagSession", "sts:AssumeRole"]),
        allow(action="sts:*"),
        allow(action="*"),
        allow(Condition=SOURCE_ACCOUNT),
    ],
    ids=[
        "service",
        "service-among-others",
        "anyone",
        "any-aws-principal",
        "action-in-any-case",
        "action-among-others",
        "all-sts-actions",
        "all-actions",
        "allow-with-a-condition",
    ],
)
def test_an_allow_naming_the_service_or_anyone_lets_it_assume_the_role(
    statement: dict[str, Any],
) -> None:
    assert allows_service(document(statement), DMS_PRINCIPAL)


@pytest.mark.parametrize(
    "trust",
    [
        document(allow({"Service": "ec2.amazonaws.com"})),
        document(allow(action="sts:TagSession")),
        document(allow({"AWS": "arn:aws:iam::123456789012:root"})),
        document(allow(), deny()),
        document(deny(), allow()),
        document(allow(), deny("*")),
        document(),
        {},
    ],
    ids=[
        "another-service",
        "another-action",
        "an-account-not-anyone",
        "allow-then-deny",
        "deny-then-allow",
        "deny-to-anyone",
        "no-statements",
        "empty",
    ],
)
def test_without_an_allow_or_with_an_unconditional_deny_it_cannot(trust: dict[str, Any]) -> None:
    assert not allows_service(trust, DMS_PRINCIPAL)


def test_a_conditional_deny_narrows_but_does_not_forbid() -> None:
    assert allows_service(document(allow(), deny(Condition=SOURCE_ACCOUNT)), DMS_PRINCIPAL)


def test_a_deny_of_another_service_does_not_matter() -> None:
    trust = document(allow(), deny({"Service": REDSHIFT_PRINCIPAL}))

    assert allows_service(trust, DMS_PRINCIPAL)
    assert not allows_service(trust, REDSHIFT_PRINCIPAL)


def test_one_statement_not_in_a_list_counts_and_malformed_ones_are_skipped() -> None:
    assert allows_service({"Version": "2012-10-17", "Statement": allow()}, DMS_PRINCIPAL)
    assert allows_service(document("not a statement", allow()), DMS_PRINCIPAL)


def test_policies_differing_only_in_order_list_forms_and_sids_are_the_same() -> None:
    written = document(
        allow({"Service": [DMS_PRINCIPAL, REDSHIFT_PRINCIPAL]}, action=["sts:AssumeRole"]),
        allow({"Service": "ec2.amazonaws.com"}),
    )
    read_back = document(
        {**allow({"Service": "ec2.amazonaws.com"}), "Sid": "Ec2"},
        allow({"Service": [REDSHIFT_PRINCIPAL, DMS_PRINCIPAL]}, action="sts:AssumeRole"),
    )

    assert same_policy(written, read_back)
    assert same_policy(read_back, written)


@pytest.mark.parametrize(
    "other",
    [
        document(allow(Condition=SOURCE_ACCOUNT)),
        document(deny()),
        document(allow({"Service": [DMS_PRINCIPAL, REDSHIFT_PRINCIPAL]})),
        document(allow(action="sts:*")),
        document(allow(), allow({"Service": "ec2.amazonaws.com"})),
        {**document(allow()), "Version": "2008-10-17"},
    ],
    ids=["a-condition", "the-effect", "a-principal", "the-action", "a-statement", "the-version"],
)
def test_policies_differing_in_what_they_grant_are_not_the_same(other: dict[str, Any]) -> None:
    assert not same_policy(document(allow()), other)


def test_the_catalogue_trust_with_and_without_a_source_account_differ() -> None:
    role = ROLES[0]

    assert same_policy(role.trust_policy(None), role.trust_policy(None))
    assert not same_policy(role.trust_policy(None), role.trust_policy("123456789012"))
