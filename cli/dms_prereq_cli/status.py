"""``status``: the three DMS roles as IAM reports them, what keeps each, and the sweep's plan.

Per role: whether it exists, its origin, trust, managed policy, boundary and
last use; the sweep's marks; every claim with its stack and the sweep's verdict
on it; what DMS has that uses it, region by region; and what the sweep would do
now, or from when it may delete the role. The verdicts and the plan come from
a dry run of the function's own sweep (:mod:`dms_prereq_cli.sweep`), which
writes nothing.

A problem (exit status 1) is something that stops DMS or this project from
working: a role whose trust policy does not let its service principals assume
it, a role at a path other than ``/`` (DMS finds roles at ``/`` only), a
claimed role without its AWS managed policy, a claim whose value names no
stack, or a role the sweep could not look at. An absent role is not a
problem: no resource claims it. A stale claim is not one either: the sweep
releases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dms_prereq import iam as api
from dms_prereq.catalogue import ROLES, RoleSpec
from dms_prereq.iam import RoleState
from dms_prereq.ownership import Origin, Ownership
from dms_prereq.roles import DMS_ROLE_PATH
from dms_prereq.trust import allows_service, as_list

from . import sweep
from .claims import Claim, claims_of, count_by_verdict, uncertain_notes
from .deployment import Deployment
from .report import Progress, Report, Section
from .session import Aws, IAMClient

#: The trust policy condition the RestrictToSourceAccount setting adds.
SOURCE_ACCOUNT = "aws:SourceAccount"
COLUMNS = ("role", "exists", "origin", "trust", "managed policy", "boundary", "last used")
CLAIM_COLUMNS = ("role", "stack", "claim", "verdict", "why")
KEEP_COLUMNS = ("role", "marks", "claims", "DMS resources", "the sweep", "may delete it")


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
    def ownership(self) -> Ownership | None:
        return Ownership.of(self.state.tags) if self.state else None

    @property
    def marks(self) -> str:
        owned = self.ownership
        if owned is None:
            return "-"
        found = [
            f"{what} since {when}"
            for what, when in (
                ("unclaimed", owned.unclaimed_since),
                ("deleting", owned.deleting_since),
            )
            if when
        ]
        return "; ".join(found) or "-"

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

    def problems(self, claims: list[Claim]) -> list[str]:
        name = self.spec.name
        found = [
            f"{name}: its trust policy does not let {principal} assume it, so DMS cannot use "
            "it; add the principal to the trust policy."
            for principal in self.missing_principals
        ]
        if self.state is not None and self.state.path != DMS_ROLE_PATH:
            found.append(
                f"{name}: it is at path {self.state.path}, but DMS finds its roles at path / "
                "only; delete it so that a stack can make it at /."
            )
        if any(c.verdict != "stale" for c in claims) and not self.policy_attached:
            found.append(
                f"{name}: claimed but {self.spec.managed_policy} is not attached; the next "
                "sweep re-attaches it (dms-prereq-roles prune --apply runs one now)."
            )
        found.extend(
            f"{name}: claim {c.claim_id} does not name a stack ({c.value[:60]!r}); remove "
            "the tag by hand if no stack holds it."
            for c in claims
            if c.unreadable
        )
        return found

    def trust_note(self, restrict: bool) -> str | None:
        """Where a role this project created differs from RestrictToSourceAccount, and why.

        An existing role's trust policy is never rewritten for the setting alone (DMS
        honours the condition only from engine 3.4.7), so a role made before the setting
        changed keeps what it was made with until it is made again.
        """
        if self.origin != Origin.CREATED.value:
            return None
        has = SOURCE_ACCOUNT in self.trust_conditions
        if restrict and not has:
            return (
                f"{self.spec.name}: RestrictToSourceAccount is true, but its trust policy has "
                f"no {SOURCE_ACCOUNT} condition: it was made before, and an existing role's trust "
                "is never rewritten for it (DMS honours it only from engine 3.4.7); it gets the "
                "condition when it is next created."
            )
        if has and not restrict:
            return (
                f"{self.spec.name}: its trust policy keeps the {SOURCE_ACCOUNT} condition it "
                "was made with, though RestrictToSourceAccount is now false; an existing "
                "role's trust is never rewritten for it."
            )
        return None

    def row(self) -> tuple[str, ...]:
        if self.state is None:
            return (self.spec.name, "no", "absent", "-", "-", "-", "-")
        trust = (
            "ok" if not self.missing_principals else "lacks " + ", ".join(self.missing_principals)
        )
        if self.trust_conditions:
            trust += " (condition: " + ", ".join(self.trust_conditions) + ")"
        used_at, used_region = self.last_used
        last_used = f"{used_at:%Y-%m-%d} {used_region or ''}".strip() if used_at else "never"
        return (
            self.spec.name,
            "yes" if self.state.path == DMS_ROLE_PATH else f"yes, at {self.state.path}",
            self.origin,
            trust,
            "attached" if self.policy_attached else "NOT attached",
            self.state.boundary.rsplit("/", 1)[-1] if self.state.boundary else "-",
            last_used,
        )

    def as_json(self) -> dict[str, Any]:
        used_at, used_region = self.last_used
        owned = self.ownership
        return {
            "role": self.spec.name,
            "exists": self.state is not None,
            "arn": self.state.arn if self.state else None,
            "path": self.state.path if self.state else None,
            "origin": self.origin,
            "marks": {
                "unclaimed_since": owned.unclaimed_since if owned else None,
                "deleting_since": owned.deleting_since if owned else None,
            },
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


def status(aws: Aws, deployment: Deployment, progress: Progress) -> Report:
    who = sweep.identity(aws)
    statuses = read_all(aws.iam(), progress)
    survey, regions = sweep.survey_for(aws, deployment, who)
    with progress.step(f"asking DMS in {len(regions)} regions what uses the roles"):
        usage = {s.spec.name: survey.usage_of(s.spec) for s in statuses if s.state is not None}
    planned = sweep.run(aws, deployment, who, progress, apply=False, survey=(survey, regions))

    claims: dict[str, list[Claim]] = {}
    keep_rows: list[tuple[str, ...]] = []
    roles_json: list[dict[str, Any]] = []
    problems: list[str] = []
    notes = deployment.notes()
    for s in statuses:
        name = s.spec.name
        report = planned.role(name)
        claims[name] = claims_of(s.state, report) if s.state else []
        problems += s.problems(claims[name])
        if report is not None and report.failed:
            problems.append(f"{name}: the sweep could not look at it: {report.failed}")
        notes += uncertain_notes(claims[name])
        trust_note = s.trust_note(deployment.settings.restrict_to_source_account)
        notes += [trust_note] if trust_note else []
        role_usage = usage.get(name)
        keep_rows.append(
            (
                name,
                s.marks,
                count_by_verdict(claims[name]),
                sweep.usage_text(role_usage, regions) if role_usage else "-",
                sweep.outcome(report, exists=s.state is not None, applied=False),
                sweep.deletable(report),
            )
        )
        roles_json.append(
            {
                **s.as_json(),
                "claims": [c.as_json() for c in claims[name]],
                "dms_usage": sweep.usage_json(role_usage) if role_usage else None,
                "sweep": {
                    "plan": sweep.outcome(report, exists=s.state is not None, applied=False),
                    **sweep.role_json(report, applied=False),
                },
            }
        )
    every_claim = [c for found in claims.values() for c in found]
    return Report(
        command="status",
        sections=[
            Section("DMS prerequisite roles", COLUMNS, [s.row() for s in statuses]),
            Section(
                "Claims", CLAIM_COLUMNS, [c.row() for c in every_claim], empty="no role has claims."
            ),
            Section("What keeps each role", KEEP_COLUMNS, keep_rows),
        ],
        data={
            "settings": deployment.as_json(),
            "dms_regions_asked": regions,
            "roles": roles_json,
        },
        problems=problems,
        notes=notes,
    )
