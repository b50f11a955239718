"""``prune``: claims whose stack is gone, released through the Delete code path.

A claim outlives its resource when CloudFormation's Delete never reached a
working function (a stack deleted while the function was broken or removed,
"delete stack, retain resources"), or when ``DeletionPolicy: Retain`` kept the
resource. Such a claim keeps a role alive forever, and counts against IAM's
50 tags.

A claim is stale when ``DescribeStacks`` by its stack id says the stack does
not exist or is ``DELETE_COMPLETE``, or the stack lives but no longer holds the
logical id. Anything else (a stack in progress, another account's stack, a
claim that does not name its resource exactly) is left alone. With
``--apply`` each stale claim is released by
:func:`dms_prereq.roles.release_role`, exactly as a Delete of that resource
would: the role goes only when this project created it and no claim remains.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from dms_prereq.catalogue import ROLES, RoleSpec
from dms_prereq.roles import Released, release_role

from .claims import Claim
from .report import Progress, Report, Section
from .session import Aws, error_code
from .status import read_status

COLUMNS = ("role", "claim (stack/logical id)", "stack status", "verdict", "outcome")


class Verdict(StrEnum):
    LIVE = "live"
    STACK_GONE = "stack gone"
    STACK_DELETED = "stack deleted"
    RESOURCE_GONE = "resource gone from stack"
    OTHER_ACCOUNT = "other account: not checked"
    UNREADABLE = "unreadable: not checked"


STALE = frozenset({Verdict.STACK_GONE, Verdict.STACK_DELETED, Verdict.RESOURCE_GONE})


@dataclass(frozen=True)
class ClaimCheck:
    role: RoleSpec
    claim: Claim
    verdict: Verdict
    #: The stack's status as CloudFormation reports it, when it has one.
    stack_status: str = "-"
    #: What --apply did; None when it did nothing.
    outcome: Released | None = None

    @property
    def stale(self) -> bool:
        return self.verdict in STALE

    def row(self) -> tuple[str, ...]:
        return (
            self.role.name,
            self.claim.display,
            self.stack_status,
            self.verdict.value,
            self.outcome.value if self.outcome else "-",
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role.name,
            "claim": self.claim.as_json(),
            "stack_status": self.stack_status,
            "verdict": self.verdict.value,
            "stale": self.stale,
            "outcome": self.outcome.value if self.outcome else None,
        }


def _does_not_exist(error: ClientError) -> bool:
    return error_code(error) == "ValidationError" and "does not exist" in str(error)


class StackLookup:
    """DescribeStacks and DescribeStackResource, each asked once per stack or resource."""

    def __init__(self, aws: Aws) -> None:
        self._aws = aws
        self._stacks: dict[str, str | None] = {}

    def stack_status(self, stack_id: str, region: str) -> str | None:
        """The stack's status, or None when CloudFormation does not know the id."""
        if stack_id not in self._stacks:
            client = self._aws.cloudformation(region)
            try:
                stacks = client.describe_stacks(StackName=stack_id)["Stacks"]
            except ClientError as error:
                if not _does_not_exist(error):
                    raise
                stacks = []
            self._stacks[stack_id] = str(stacks[0]["StackStatus"]) if stacks else None
        return self._stacks[stack_id]

    def holds(self, stack_id: str, region: str, logical_id: str) -> bool:
        """Whether the stack still has a resource of that logical id (not deleted)."""
        client = self._aws.cloudformation(region)
        try:
            detail = client.describe_stack_resource(
                StackName=stack_id, LogicalResourceId=logical_id
            )
        except ClientError as error:
            if _does_not_exist(error):
                return False
            raise
        return str(detail["StackResourceDetail"].get("ResourceStatus")) != "DELETE_COMPLETE"


def judge(claim: Claim, role_account: str, stacks: StackLookup) -> tuple[Verdict, str]:
    resource = claim.resource
    if resource is None:
        return Verdict.UNREADABLE, "-"
    if resource.account != role_account:
        # DescribeStacks cannot see another account's stacks: "does not exist" there
        # would be a lie, and pruning on it would break that stack.
        return Verdict.OTHER_ACCOUNT, "-"
    region = resource.stack_id.split(":")[3]
    status = stacks.stack_status(resource.stack_id, region)
    if status is None:
        return Verdict.STACK_GONE, "-"
    if status == "DELETE_COMPLETE":
        return Verdict.STACK_DELETED, status
    if not stacks.holds(resource.stack_id, region, resource.logical_id):
        return Verdict.RESOURCE_GONE, status
    return Verdict.LIVE, status


def find(aws: Aws, progress: Progress) -> list[ClaimCheck]:
    client = aws.iam()
    stacks = StackLookup(aws)
    checks: list[ClaimCheck] = []
    for role in ROLES:
        with progress.step(f"reading {role.name}"):
            status = read_status(client, role)
        if status.state is None:
            continue
        account = status.state.arn.split(":")[4]
        for claim in status.claims:
            with progress.step(f"looking up the stack of {claim.display}"):
                verdict, stack_status = judge(claim, account, stacks)
            checks.append(ClaimCheck(role, claim, verdict, stack_status))
    return checks


def apply(aws: Aws, checks: list[ClaimCheck], progress: Progress) -> list[ClaimCheck]:
    """Release every stale claim, the way a Delete of its resource would."""
    done = []
    for check in checks:
        if check.stale and check.claim.resource is not None:
            with progress.step(f"releasing {check.claim.display} on {check.role.name}"):
                outcome = release_role(aws.iam(), check.role, check.claim.resource)
            check = replace(check, outcome=outcome)
        done.append(check)
    return done


def prune(aws: Aws, progress: Progress, *, apply_changes: bool) -> Report:
    checks = find(aws, progress)
    if apply_changes:
        checks = apply(aws, checks, progress)
    stale = [c for c in checks if c.stale]
    problems = [
        f"{c.role.name}: claim of {c.claim.display} is stale ({c.verdict.value}); "
        "run with --apply to release it."
        for c in stale
        if c.outcome is None
    ]
    notes = [
        f"{c.role.name}: claim of {c.claim.display} was not checked ({c.verdict.value})."
        for c in checks
        if c.verdict in (Verdict.OTHER_ACCOUNT, Verdict.UNREADABLE)
    ]
    return Report(
        command="prune" + (" --apply" if apply_changes else ""),
        sections=[
            Section("Claims", COLUMNS, [c.row() for c in checks], empty="no role has claims.")
        ],
        data={"applied": apply_changes, "claims": [c.as_json() for c in checks]},
        problems=problems,
        notes=notes,
    )
