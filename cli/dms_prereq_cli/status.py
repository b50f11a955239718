"""``status``: the three DMS roles as IAM reports them, one row per role.

A problem (exit status 1) is something that stops DMS or this project from
working: a role whose trust policy does not let its service principals assume
it, a claimed role without its AWS managed policy, or a claim that cannot be
read back. An absent role is not a problem: no resource claims it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dms_prereq import iam as api
from dms_prereq.catalogue import ROLES, RoleSpec
from dms_prereq.iam import RoleState
from dms_prereq.ownership import Origin, Ownership
from dms_prereq.trust import allows_service, as_list

from .claims import Claim, claims_of
from .report import Progress, Report, Section
from .session import IAMClient

COLUMNS = (
    "role",
    "exists",
    "ARN",
    "origin",
    "claims (stack/logical id)",
    "trust",
    "managed policy",
    "boundary",
    "last used",
)


@dataclass(frozen=True)
class RoleStatus:
    """One role, read from IAM."""

    spec: RoleSpec
    state: RoleState | None
    attached: tuple[str, ...] = ()

    @property
    def partition(self) -> str:
        return self.state.arn.split(":")[1] if self.state else "aws"

    @property
    def origin(self) -> str:
        """created / adopted (by this project) / foreign (never claimed) / absent."""
        if self.state is None:
            return "absent"
        origin = Ownership.of(self.state.tags).origin
        return origin.value if origin else "foreign"

    @property
    def claims(self) -> list[Claim]:
        return claims_of(self.state) if self.state else []

    @property
    def missing_principals(self) -> list[str]:
        if self.state is None:
            return []
        return [p for p in self.spec.principals if not allows_service(self.state.trust, p)]

    @property
    def policy_attached(self) -> bool:
        return self.spec.managed_policy_arn(self.partition) in self.attached

    @property
    def trust_conditions(self) -> list[str]:
        """Condition keys on the statements that let the DMS principals in."""
        if self.state is None:
            return []
        keys: set[str] = set()
        for statement in as_list(self.state.trust.get("Statement")):
            if isinstance(statement, dict) and statement.get("Effect") == "Allow":
                for clauses in dict(statement.get("Condition") or {}).values():
                    keys.update(dict(clauses))
        return sorted(keys)

    @property
    def last_used(self) -> tuple[datetime | None, str | None]:
        used = self.state.last_used if self.state else {}
        return used.get("LastUsedDate"), used.get("Region")

    def problems(self) -> list[str]:
        name = self.spec.name
        found = [
            f"{name}: its trust policy does not let {principal} assume it, so DMS cannot use "
            "it; add the principal to the trust policy."
            for principal in self.missing_principals
        ]
        if self.claims and not self.policy_attached:
            found.append(
                f"{name}: claimed but {self.spec.managed_policy} is not attached; update a "
                "claiming stack (it re-attaches it) or attach it by hand."
            )
        found.extend(
            f"{name}: claim {c.claim_id} does not name a stack and logical id "
            f"({c.label!r}); remove the tag by hand if no stack holds it."
            for c in self.claims
            if c.resource is None
        )
        return found

    def notes(self) -> list[str]:
        if self.origin == Origin.CREATED.value and not self.claims:
            return [
                f"{self.spec.name} was created by this project but no resource claims it: it "
                "was kept because it carries something else (see the function's log)."
            ]
        return []

    def row(self) -> tuple[str, ...]:
        if self.state is None:
            return (self.spec.name, "no", "-", "absent", "-", "-", "-", "-", "-")
        trust = (
            "ok" if not self.missing_principals else "lacks " + ", ".join(self.missing_principals)
        )
        if self.trust_conditions:
            trust += " (condition: " + ", ".join(self.trust_conditions) + ")"
        used_at, used_region = self.last_used
        last_used = f"{used_at:%Y-%m-%d} {used_region or ''}".strip() if used_at else "never"
        return (
            self.spec.name,
            "yes",
            self.state.arn,
            self.origin,
            "\n".join(c.display for c in self.claims) or "-",
            trust,
            "attached" if self.policy_attached else "NOT attached",
            self.state.boundary.rsplit("/", 1)[-1] if self.state.boundary else "-",
            last_used,
        )

    def as_json(self) -> dict[str, Any]:
        used_at, used_region = self.last_used
        return {
            "role": self.spec.name,
            "exists": self.state is not None,
            "arn": self.state.arn if self.state else None,
            "origin": self.origin,
            "claims": [c.as_json() for c in self.claims],
            "trust_ok": self.state is not None and not self.missing_principals,
            "trust_missing_principals": self.missing_principals,
            "trust_condition_keys": self.trust_conditions,
            "managed_policy": self.spec.managed_policy_arn(self.partition),
            "managed_policy_attached": self.policy_attached,
            "permissions_boundary": self.state.boundary if self.state else None,
            "last_used": {"date": used_at, "region": used_region} if used_at else None,
        }


def attached_policies(client: IAMClient, name: str) -> tuple[str, ...]:
    pages = client.get_paginator("list_attached_role_policies").paginate(RoleName=name)
    return tuple(p["PolicyArn"] for page in pages for p in page["AttachedPolicies"])


def read_status(client: IAMClient, role: RoleSpec) -> RoleStatus:
    state = api.get_role(client, role.name)
    if state is None:
        return RoleStatus(role, None)
    return RoleStatus(role, state, attached_policies(client, role.name))


def read_all(client: IAMClient, progress: Progress) -> list[RoleStatus]:
    statuses = []
    for role in ROLES:
        with progress.step(f"reading {role.name}"):
            statuses.append(read_status(client, role))
    return statuses


def status(client: IAMClient, progress: Progress) -> Report:
    statuses = read_all(client, progress)
    return Report(
        command="status",
        sections=[Section("DMS prerequisite roles", COLUMNS, [s.row() for s in statuses])],
        data={"roles": [s.as_json() for s in statuses]},
        problems=[p for s in statuses for p in s.problems()],
        notes=[n for s in statuses for n in s.notes()],
    )
