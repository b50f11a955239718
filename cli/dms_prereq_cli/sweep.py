"""The function's own sweep, run once from a workstation, and its report put into words.

Nothing here decides anything: :class:`dms_prereq.sweep.Sweeper` does, with
the same collaborators the scheduled function builds in ``app.py``
(:class:`~dms_prereq.stacks.StackLookup` for CloudFormation,
:class:`~dms_prereq.dms_usage.DmsSurvey` over
:func:`~dms_prereq.dms_usage.regions_to_ask` for DMS) and the deployment's
settings (:mod:`dms_prereq_cli.deployment`). ``apply=False`` is the dry run:
the Sweeper writes nothing and its report says what it would have done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dms_prereq.dms_usage import DmsSurvey, Usage, regions_to_ask
from dms_prereq.stacks import StackLookup
from dms_prereq.sweep import Kept, RoleReport, Sweeper, SweepReport

from .deployment import Deployment
from .report import Progress
from .session import Aws


@dataclass(frozen=True)
class Identity:
    """Whose account the tool is looking at (STS GetCallerIdentity)."""

    account: str
    partition: str


def identity(aws: Aws) -> Identity:
    caller = aws.sts().get_caller_identity()
    return Identity(account=str(caller["Account"]), partition=str(caller["Arn"]).split(":")[1])


@dataclass
class Sweep:
    """One sweep's report, and the DMS survey it used (``status`` shows every role's usage)."""

    report: SweepReport
    survey: DmsSurvey
    regions: list[str]

    def role(self, name: str) -> RoleReport | None:
        return next((r for r in self.report.roles if r.role == name), None)


def survey_for(aws: Aws, deployment: Deployment, who: Identity) -> tuple[DmsSurvey, list[str]]:
    configured = deployment.settings.dms_regions
    regions, problem = regions_to_ask(aws.ec2(), configured, who.partition)
    return DmsSurvey(aws.dms, regions, problem), regions


def run(
    aws: Aws,
    deployment: Deployment,
    who: Identity,
    progress: Progress,
    *,
    apply: bool,
    survey: tuple[DmsSurvey, list[str]] | None = None,
) -> Sweep:
    """Run the sweep once; ``apply=False`` writes nothing."""
    dms, regions = survey or survey_for(aws, deployment, who)
    settle = deployment.settings.sweep_settle_seconds
    doing = "running the sweep" if apply else "running the sweep as a dry run"
    if apply and settle:
        doing += f" (a deletion waits {settle} s twice for claims to show)"
    with progress.step(doing):
        report = Sweeper(
            aws.iam(),
            StackLookup(aws.cloudformation, who.account),
            dms,
            deployment.settings,
            who.partition,
            apply=apply,
            sleep=time.sleep,
        ).run()
    return Sweep(report, dms, regions)


# -- in words ----------------------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def changes(report: RoleReport, *, applied: bool) -> list[str]:
    """What the sweep changed on the role (or, in a dry run, would change)."""

    def say(done: str, would: str) -> str:
        return done if applied else would

    found = []
    if report.released:
        n = len(report.released)
        found.append(say("released", "would release") + f" {n} stale claim{'s' * (n > 1)}")
    if report.unmarked:
        found.append(say("removed its marks", "would remove its marks"))
    if report.reattached:
        found.append(say("re-attached its policy", "would re-attach its policy"))
    if report.untagged_adopted:
        found.append(say("removed", "would remove") + " this project's tags (adopted, unclaimed)")
    found += [
        say("applied settings", "would apply settings") + f" ({change})"
        for change in report.settings_applied
    ]
    if report.marked:
        found.append(say("marked it unclaimed", "would mark it unclaimed"))
    if report.deleted:
        found.append("deleted it")
    if report.kept is Kept.DRY_RUN:
        found.append("would delete it")
    return found


#: Reasons whose detail the other columns already show: the claims, DMS's resources, the mark.
_SHOWN_ELSEWHERE = frozenset({Kept.CLAIMED, Kept.DMS_USES_IT, Kept.RETENTION})


def outcome(report: RoleReport | None, *, exists: bool, applied: bool) -> str:
    """One cell: what the sweep did or would do, why it keeps the role, and until when."""
    if report is None or not report.exists or not exists:
        return "nothing to do (absent)"
    if report.failed:
        return f"stopped: {report.failed}"
    if not report.origin and not report.checks:
        return "never touches it (not this project's)"
    parts = changes(report, applied=applied)
    kept = report.kept
    if kept is not None and kept is not Kept.DRY_RUN:
        detail = "" if kept in _SHOWN_ELSEWHERE or not report.why else f" ({report.why})"
        parts.append(f"keeps it: {kept.value}{detail}")
    if report.origin == "adopted" and not report.untagged_adopted:
        parts.append("never deletes it (adopted)")
    return "; ".join(parts) or "nothing to do"


def deletable(report: RoleReport | None) -> str:
    """When the sweep may delete the role, if nothing changes meanwhile."""
    if report is None or not report.exists or report.deleted:
        return "-"
    if report.kept is Kept.DRY_RUN:
        return "now"
    if report.kept in (Kept.RETENTION, Kept.RECENTLY_USED) and report.deletable_after:
        return f"from {stamp(report.deletable_after)}"
    return "-"


def usage_text(usage: Usage, regions: list[str]) -> str:
    """``us-east-1: 1 replication subnet groups``, ``none (2 regions)``, or what is unknown."""
    parts = []
    if usage.in_use:
        parts.append(usage.describe())
    if usage.unknown:
        parts.append(
            "unknown in " + ", ".join(f"{r} ({why})" for r, why in sorted(usage.unknown.items()))
        )
    if not parts:
        asked = len(regions)
        return f"none ({asked} region{'s' * (asked != 1)})"
    return "; ".join(parts)


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "in_use": {
            region: {kind.value: n for kind, n in kinds.items()}
            for region, kinds in sorted(usage.users.items())
        },
        "unknown": dict(sorted(usage.unknown.items())),
    }


def role_json(report: RoleReport | None, *, applied: bool) -> dict[str, Any]:
    """What the sweep did (or would do) to one role, for --output json."""
    if report is None:
        return {}
    return {
        "changes": changes(report, applied=applied),
        "released": list(report.released),
        "marked": report.marked,
        "unmarked": report.unmarked,
        "untagged_adopted": report.untagged_adopted,
        "reattached": report.reattached,
        "settings_applied": list(report.settings_applied),
        "deleted": report.deleted,
        "would_delete": report.kept is Kept.DRY_RUN,
        "kept": report.kept.value if report.kept and report.kept is not Kept.DRY_RUN else None,
        "why": report.why or None,
        "deletable_after": report.deletable_after if deletable(report) != "-" else None,
        "failed": report.failed,
    }
