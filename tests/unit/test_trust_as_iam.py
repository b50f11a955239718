"""Whether a trust policy lets a service assume the role, evaluated as IAM evaluates it."""

from __future__ import annotations

from typing import Any

import pytest
from dms_prereq.trust import allows_service

DMS = "dms.amazonaws.com"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**fields: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"Service": DMS}, "Action": "sts:AssumeRole", **fields}


@pytest.mark.parametrize(
    "document",
    [
        policy(allow()),
        policy(allow(Action="sts:Assume*")),
        policy(allow(Action="STS:assumerole")),
        policy(allow(Action=["sts:TagSession", "sts:*"])),
        policy(allow(Effect="allow")),
        policy(allow(Principal="*")),
        policy(allow(Principal={"Service": ["redshift.amazonaws.com", DMS]})),
        policy(allow(Condition={"StringEquals": {"aws:SourceAccount": "123456789012"}})),
        # The confused-deputy guard: deny unless the caller is this account's DMS.
        policy(
            allow(),
            {
                "Effect": "Deny",
                "Principal": {"Service": DMS},
                "Action": "sts:AssumeRole",
                "Condition": {"StringNotEquals": {"aws:SourceAccount": "123456789012"}},
            },
        ),
        policy(allow(NotAction="sts:TagSession", Action=None)),
    ],
)
def test_a_policy_that_lets_dms_assume_the_role_is_accepted(document: dict[str, Any]) -> None:
    for statement in document["Statement"]:
        if statement.get("Action") is None:
            statement.pop("Action")
    assert allows_service(document, DMS)


@pytest.mark.parametrize(
    "document",
    [
        policy(),
        policy(allow(Principal={"Service": "ec2.amazonaws.com"})),
        policy(allow(Action="sts:AssumeRoleWithSAML")),
        policy(allow(Effect="Deny")),
        policy(allow(), {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}),
        policy(
            allow(),
            {"Effect": "Deny", "NotPrincipal": {"Service": "ec2.amazonaws.com"}, "Action": "*"},
        ),
        policy(allow(), {"Effect": "Deny", "Principal": "*", "NotAction": "s3:*"}),
        policy(allow(NotPrincipal={"Service": DMS}, Principal=None)),
    ],
)
def test_a_policy_that_stops_dms_is_refused(document: dict[str, Any]) -> None:
    for statement in document["Statement"]:
        if "Principal" in statement and statement["Principal"] is None:
            statement.pop("Principal")
    assert not allows_service(document, DMS)
