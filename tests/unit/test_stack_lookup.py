"""Is the resource behind a claim still there? CloudFormation's answers, as the sweep reads them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from dms_prereq.request import claim_id_for
from dms_prereq.stacks import StackLookup, Verdict

ACCOUNT = "123456789012"
STACK = (
    f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/orders/6e1c8a40-5c1f-11ef-9d2a-0a1b2c3d4e5f"
)
CLAIM = claim_id_for(STACK, "DmsRoles")


class FakeCloudFormation:
    """Answers DescribeStacks and ListStackResources for one stack, counting the calls."""

    def __init__(self, status: str | None, resources: dict[str, str], error: str = "") -> None:
        self.status, self.resources, self.error = status, resources, error
        self.calls: list[str] = []

    def _fail(self, operation: str, code: str, message: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": message}}, operation)

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.calls.append("DescribeStacks")
        if self.error:
            raise self._fail("DescribeStacks", self.error, "no")
        if self.status is None:
            raise self._fail(
                "DescribeStacks", "ValidationError", f"Stack with id {StackName} does not exist"
            )
        return {"Stacks": [{"StackId": StackName, "StackStatus": self.status}]}

    def get_paginator(self, name: str) -> Any:
        fake = self

        class Pages:
            def paginate(self, StackName: str) -> list[dict[str, Any]]:
                fake.calls.append("ListStackResources")
                return [
                    {
                        "StackResourceSummaries": [
                            {"LogicalResourceId": k, "ResourceStatus": v}
                            for k, v in fake.resources.items()
                        ]
                    }
                ]

        return Pages()


def lookup(fake: FakeCloudFormation) -> StackLookup:
    regions: list[str] = []

    def client_for(region: str) -> FakeCloudFormation:
        regions.append(region)
        assert region == "eu-west-1", "a stack is asked in its own region"
        return fake

    return StackLookup(client_for, ACCOUNT)


@pytest.mark.parametrize(
    ("status", "resources", "verdict"),
    [
        (None, {}, Verdict.STALE),
        ("DELETE_COMPLETE", {}, Verdict.STALE),
        ("UPDATE_IN_PROGRESS", {}, Verdict.LIVE),
        ("ROLLBACK_IN_PROGRESS", {}, Verdict.LIVE),
        ("CREATE_COMPLETE", {"DmsRoles": "CREATE_COMPLETE"}, Verdict.LIVE),
        ("UPDATE_COMPLETE", {"DmsRoles": "UPDATE_FAILED"}, Verdict.LIVE),
        ("UPDATE_COMPLETE", {"Other": "CREATE_COMPLETE"}, Verdict.STALE),
        ("ROLLBACK_COMPLETE", {"DmsRoles": "DELETE_COMPLETE"}, Verdict.STALE),
        ("UPDATE_COMPLETE", {"DmsRoles": "DELETE_SKIPPED"}, Verdict.STALE),
    ],
)
def test_a_claim_is_stale_only_when_cloudformation_says_its_resource_is_gone(
    status: str | None, resources: dict[str, str], verdict: Verdict
) -> None:
    assert lookup(FakeCloudFormation(status, resources)).check(CLAIM, STACK).verdict is verdict


@pytest.mark.parametrize("code", ["AccessDenied", "Throttling", "InternalFailure"])
def test_anything_uncertain_keeps_the_claim(code: str) -> None:
    check = lookup(FakeCloudFormation("CREATE_COMPLETE", {}, error=code)).check(CLAIM, STACK)
    assert check.verdict is Verdict.UNCERTAIN
    assert check.region == "eu-west-1"


def test_a_claim_of_another_account_or_naming_no_stack_is_uncertain() -> None:
    fake = FakeCloudFormation(None, {})
    other = STACK.replace(ACCOUNT, "210987654321")
    assert lookup(fake).check(CLAIM, other).verdict is Verdict.UNCERTAIN
    assert lookup(fake).check(CLAIM, "not a stack").verdict is Verdict.UNCERTAIN
    assert fake.calls == []


def test_a_version_1_claim_value_names_its_stack_first() -> None:
    fake = FakeCloudFormation(None, {})
    assert lookup(fake).check(CLAIM, f"{STACK} DmsRoles").verdict is Verdict.STALE


def test_each_stack_is_asked_once_per_sweep() -> None:
    fake = FakeCloudFormation(
        "UPDATE_COMPLETE", {"DmsRoles": "UPDATE_COMPLETE", "B": "CREATE_COMPLETE"}
    )
    stacks = lookup(fake)
    for logical_id in ("DmsRoles", "B", "C"):
        stacks.check(claim_id_for(STACK, logical_id), STACK)
    assert fake.calls == ["DescribeStacks", "ListStackResources"]
    assert stacks.calls == 1
