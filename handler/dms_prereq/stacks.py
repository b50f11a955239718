"""CloudFormation as the source of truth: is a resource still there, and is a request real?

Two questions only CloudFormation can answer safely:

* :func:`verify_request`: is this very resource in the operation the request
  claims (``CREATE_IN_PROGRESS`` for a Create, …)? Custom resource requests
  reach the function only while the stack runs an operation on that resource,
  so a forged request, or one Lambda delivered long after its operation ended,
  fails the check and changes nothing.
* :class:`StackLookup`: is the resource behind a claim still there? Asked in
  the StackId's own region, once per distinct stack per sweep.

CloudFormation's own answers are read through :func:`_call`, which translates
errors once, as :mod:`dms_prereq.iam` does for IAM.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from .errors import AwsError, PermissionDenied, translate
from .request import Request, StackRef, claim_id_for

log = logging.getLogger(__name__)

T = TypeVar("T")
#: A CloudFormation client for a region.
ClientFor = Callable[[str], Any]

#: A resource in these states is gone from its stack (a rolled-back create lists
#: its resources as DELETE_COMPLETE; a retained one as DELETE_SKIPPED).
_ABSENT = {"DELETE_COMPLETE", "DELETE_SKIPPED"}


def _call(action: str, target: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except (ClientError, BotoCoreError) as error:
        raise translate(error, action, target, service="cloudformation") from error


def _missing_stack(error: AwsError) -> bool:
    """DescribeStacks on a stack id that no longer exists answers ValidationError."""
    return error.code == "ValidationError" and "does not exist" in error.detail


def verify_request(cfn: Any, request: Request) -> str | None:
    """Why CloudFormation does not show this resource in the request's operation, or None."""
    resource = request.resource
    expected = f"{request.request_type.upper()}_IN_PROGRESS"
    try:
        detail = _call(
            "DescribeStackResource",
            resource.stack_name,
            lambda: cfn.describe_stack_resource(
                StackName=resource.stack_id, LogicalResourceId=resource.logical_id
            ),
        )["StackResourceDetail"]
    except PermissionDenied:
        return (
            "The function cannot check the request with CloudFormation: its role lacks "
            "cloudformation:DescribeStackResource; grant it, or set VerifyRequests to false."
        )
    except AwsError as error:
        if error.code == "ValidationError":
            return (
                f"CloudFormation shows no resource {resource.logical_id} in stack "
                f"{resource.stack_name}; the request is not from a stack operation."
            )
        return f"The request could not be checked with CloudFormation ({error.code or error})."
    status = str(detail.get("ResourceStatus", ""))
    if status != expected:
        return (
            f"CloudFormation shows {resource.logical_id} in stack {resource.stack_name} as "
            f"{status or 'no status'}, not {expected}: the request is late, repeated or forged."
        )
    return None


class Verdict(StrEnum):
    LIVE = "live"
    STALE = "stale"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class ClaimCheck:
    verdict: Verdict
    #: Why, for the log and the CLI: the stack's status, or what could not be read.
    why: str
    #: The region asked; empty when the claim's value names no stack.
    region: str = ""


@dataclass(frozen=True)
class _Stack:
    """What one DescribeStacks (and, for a settled stack, its resource list) said."""

    status: str
    #: Claim id -> resource status, for every resource of a settled stack.
    resources: dict[str, str] | None
    problem: str | None = None


def stack_of_claim(value: str) -> StackRef | None:
    """The stack a claim's value names (version 1 wrote '<StackId> <LogicalId>')."""
    return StackRef.parse(value.split(" ", 1)[0])


class StackLookup:
    """Answers "is the resource behind this claim still there?", asking each stack once."""

    def __init__(self, client_for: ClientFor, account: str) -> None:
        self._client_for = client_for
        self._account = account
        self._lock = threading.Lock()
        self._stacks: dict[str, Future[_Stack]] = {}
        #: DescribeStacks calls made, for the summary and the benchmark.
        self.calls = 0

    def check(self, claim_id: str, value: str) -> ClaimCheck:
        ref = stack_of_claim(value)
        if ref is None:
            return ClaimCheck(Verdict.UNCERTAIN, f"the claim's value {value[:60]!r} names no stack")
        region = ref.region
        if ref.account != self._account:
            return ClaimCheck(Verdict.UNCERTAIN, f"stack of account {ref.account}", region)
        stack = self._stack(ref.stack_id, region)
        if stack.problem is not None:
            return ClaimCheck(Verdict.UNCERTAIN, stack.problem, region)
        if stack.status == "DELETE_COMPLETE" or stack.status == "GONE":
            return ClaimCheck(Verdict.STALE, f"stack {stack.status.lower()}", region)
        if stack.status.endswith("_IN_PROGRESS") or stack.resources is None:
            return ClaimCheck(Verdict.LIVE, f"stack {stack.status}", region)
        resource_status = stack.resources.get(claim_id)
        if resource_status is None or resource_status in _ABSENT:
            return ClaimCheck(
                Verdict.STALE,
                f"stack {stack.status} without the resource ({resource_status or 'absent'})",
                region,
            )
        return ClaimCheck(Verdict.LIVE, f"stack {stack.status}, resource {resource_status}", region)

    def _stack(self, stack_id: str, region: str) -> _Stack:
        """The first thread that needs a stack asks CloudFormation; the others wait for it."""
        with self._lock:
            answer = self._stacks.get(stack_id)
            asking = answer is None
            if answer is None:
                answer = self._stacks[stack_id] = Future()
                self.calls += 1
        if asking:
            try:
                answer.set_result(self._describe(stack_id, region))
            except Exception as error:  # noqa: BLE001 - every waiting thread gets it too
                answer.set_exception(error)
        return answer.result()

    def _describe(self, stack_id: str, region: str) -> _Stack:
        try:
            cfn = self._client_for(region)
            stacks = _call(
                "DescribeStacks", stack_id, lambda: cfn.describe_stacks(StackName=stack_id)
            )["Stacks"]
            if not stacks:
                return _Stack("GONE", None)
            status = str(stacks[0]["StackStatus"])
            if status == "DELETE_COMPLETE" or status.endswith("_IN_PROGRESS"):
                return _Stack(status, None)
            summaries = _call(
                "ListStackResources",
                stack_id,
                lambda: [
                    summary
                    for page in cfn.get_paginator("list_stack_resources").paginate(
                        StackName=stack_id
                    )
                    for summary in page.get("StackResourceSummaries", [])
                ],
            )
            resources = {
                claim_id_for(stack_id, str(s["LogicalResourceId"])): str(
                    s.get("ResourceStatus", "")
                )
                for s in summaries
            }
            return _Stack(status, resources)
        except AwsError as error:
            if _missing_stack(error):
                return _Stack("GONE", None)
            log.warning("stack not readable", extra={"stack": stack_id, "reason": str(error)})
            return _Stack("", None, f"not readable in {region} ({error.code or 'error'})")
