"""``check-policies``: the AWS managed policies DMS uses, and roles that drift from them.

The DMS guide asks operators to check the managed policies "periodically"
with ``aws iam get-policy`` and ``aws iam get-policy-version``, because AWS
updates them and hand-made copies fall behind. This does that for all three:
the default version and its date, whether AWS has moved past the version
this tool knows, and for each role that uses its own (customer-managed,
other AWS managed or inline) policies, the actions the managed policy's
default version grants that those policies lack.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from dms_prereq.catalogue import ROLES, RoleSpec

from .actions import allowed_actions, lacking
from .report import Progress, Report, Section
from .session import IAMClient, error_code
from .status import RoleStatus, read_status

#: The default versions of the AWS managed policies when this tool was released.
KNOWN_VERSIONS: dict[str, str] = {
    "AmazonDMSVPCManagementRole": "v4",
    "AmazonDMSCloudWatchLogsRole": "v2",
    "AmazonDMSRedshiftS3Role": "v3",
}

POLICY_COLUMNS = ("policy", "default version", "version date", "known to this tool", "state")
ROLE_COLUMNS = ("role", "own policies", "AWS policy attached", "actions the own policies lack")


def version_number(version_id: str) -> int:
    """``"v4"`` -> 4; IAM numbers the versions of a policy v1, v2, ..."""
    return int(version_id.lstrip("vV") or 0)


def as_document(raw: object) -> dict[str, Any]:
    """A policy document: boto3 decodes them; raw API answers are URL-encoded JSON."""
    if isinstance(raw, dict):
        return raw
    document = json.loads(urllib.parse.unquote(str(raw)))
    return document if isinstance(document, dict) else {}


@dataclass(frozen=True)
class PolicyVersion:
    arn: str
    version_id: str
    date: datetime | None
    document: dict[str, Any]


def read_policy(client: IAMClient, arn: str) -> PolicyVersion | None:
    """GetPolicy then GetPolicyVersion of its default version; None when it does not exist."""
    try:
        version_id = client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        version = client.get_policy_version(PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise
    return PolicyVersion(
        arn, version_id, version.get("CreateDate"), as_document(version["Document"])
    )


@dataclass(frozen=True)
class ManagedPolicy:
    """One of the AWS managed policies, as IAM reports it today."""

    role: RoleSpec
    arn: str
    current: PolicyVersion | None

    @property
    def known(self) -> str:
        return KNOWN_VERSIONS[self.role.managed_policy]

    @property
    def moved_past(self) -> bool:
        return self.current is not None and version_number(
            self.current.version_id
        ) > version_number(self.known)

    @property
    def state(self) -> str:
        if self.current is None:
            return "not found"
        if self.moved_past:
            return f"AWS moved past {self.known}"
        if version_number(self.current.version_id) < version_number(self.known):
            return f"older than {self.known}"
        return "current"

    def row(self) -> tuple[str, ...]:
        current = self.current
        when = f"{current.date:%Y-%m-%d}" if current and current.date else "-"
        return (
            self.role.managed_policy,
            current.version_id if current else "-",
            when,
            self.known,
            self.state,
        )

    def problem(self) -> str | None:
        name = self.role.managed_policy
        if self.current is None:
            return f"{name} does not exist at {self.arn} (not offered in this partition?)."
        if self.moved_past:
            return (
                f"AWS has moved {name} past {self.known} to {self.current.version_id}: review "
                "the new version (aws iam get-policy-version), bring your own copies up to "
                "date, then upgrade dms-prereq-roles."
            )
        return None

    def as_json(self) -> dict[str, Any]:
        current = self.current
        return {
            "policy": self.role.managed_policy,
            "arn": self.arn,
            "default_version": current.version_id if current else None,
            "version_date": current.date if current else None,
            "known_version": self.known,
            "state": self.state,
            "actions": allowed_actions(current.document) if current else [],
        }


@dataclass(frozen=True)
class OwnPolicy:
    """A policy a role carries besides the AWS managed one."""

    name: str
    kind: str  # customer-managed, aws-managed, inline
    document: dict[str, Any]

    @property
    def display(self) -> str:
        return f"{self.name} ({self.kind})"


@dataclass(frozen=True)
class RoleDrift:
    """A role that uses its own policies, and what they lack."""

    status: RoleStatus
    own: tuple[OwnPolicy, ...]
    lacking: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.status.spec.name

    def problem(self) -> str | None:
        if not self.lacking or self.status.policy_attached:
            return None
        return (
            f"{self.name} uses its own policies instead of {self.status.spec.managed_policy}, "
            f"and they lack {len(self.lacking)} of its actions ({', '.join(self.lacking)}); "
            "add them or attach the AWS managed policy."
        )

    def note(self) -> str | None:
        if self.lacking and self.status.policy_attached:
            return (
                f"{self.name}: its own policies lack {', '.join(self.lacking)}, but the AWS "
                "managed policy is attached beside them and grants those."
            )
        return None

    def row(self) -> tuple[str, ...]:
        return (
            self.name,
            "\n".join(p.display for p in self.own),
            "yes" if self.status.policy_attached else "no",
            "\n".join(self.lacking) or "none",
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.name,
            "own_policies": [{"name": p.name, "kind": p.kind} for p in self.own],
            "managed_policy_attached": self.status.policy_attached,
            "lacking_actions": list(self.lacking),
        }


def own_policies(
    client: IAMClient, status: RoleStatus, cache: dict[str, PolicyVersion | None]
) -> list[OwnPolicy]:
    name = status.spec.name
    found: list[OwnPolicy] = []
    for arn in status.attached:
        if arn == status.spec.managed_policy_arn(status.partition):
            continue
        if arn not in cache:
            cache[arn] = read_policy(client, arn)
        version = cache[arn]
        kind = "aws-managed" if arn.split(":")[4] == "aws" else "customer-managed"
        found.append(OwnPolicy(arn.rsplit("/", 1)[-1], kind, version.document if version else {}))
    for page in client.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy_name in page["PolicyNames"]:
            raw = client.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            found.append(OwnPolicy(policy_name, "inline", as_document(raw)))
    return found


def check_policies(client: IAMClient, partition: str, progress: Progress) -> Report:
    managed: list[ManagedPolicy] = []
    for role in ROLES:
        arn = role.managed_policy_arn(partition)
        with progress.step(f"reading {role.managed_policy}"):
            managed.append(ManagedPolicy(role, arn, read_policy(client, arn)))

    cache: dict[str, PolicyVersion | None] = {}
    drifts: list[RoleDrift] = []
    problems = [p for p in (m.problem() for m in managed) if p]
    for policy in managed:
        with progress.step(f"reading the policies of {policy.role.name}"):
            status = read_status(client, policy.role)
            if status.state is None:
                continue
            own = own_policies(client, status, cache)
        if not own:
            if not status.policy_attached:
                problems.append(
                    f"{policy.role.name} has no policies: neither {policy.role.managed_policy} "
                    "nor its own."
                )
            continue
        required = allowed_actions(policy.current.document) if policy.current else []
        drifts.append(
            RoleDrift(status, tuple(own), tuple(lacking(required, [p.document for p in own])))
        )

    problems.extend(p for p in (d.problem() for d in drifts) if p)
    return Report(
        command="check-policies",
        sections=[
            Section("AWS managed policies", POLICY_COLUMNS, [m.row() for m in managed]),
            Section(
                "Roles with their own policies",
                ROLE_COLUMNS,
                [d.row() for d in drifts],
                empty="no role uses customer-managed or inline policies.",
            ),
        ],
        data={
            "managed_policies": [m.as_json() for m in managed],
            "roles": [d.as_json() for d in drifts],
        },
        problems=problems,
        notes=[n for n in (d.note() for d in drifts) if n],
    )
