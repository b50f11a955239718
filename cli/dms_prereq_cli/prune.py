"""``prune``: the function's sweep, run once from here; a dry run unless ``--apply``.

The sweep (:mod:`dms_prereq.sweep`) is what deletes roles and releases the
claims of resources CloudFormation no longer has; the function runs it on its
schedule. ``prune`` runs the same code once, now, with the deployment's
settings (:mod:`dms_prereq_cli.deployment`; ``--retention`` overrides the
retention): when the schedule is off, before removing the application, or to
see what the next sweep will do. Without ``--apply`` nothing is written and
the report says what the sweep would do; the exit status is then 1 when it
would change anything. With ``--apply`` a deletion waits the settle time twice
(``SWEEP_SETTLE_SECONDS``), exactly as the function's does.
"""

from __future__ import annotations

from typing import Any

from . import sweep
from .claims import claims_of, uncertain_notes
from .deployment import Deployment
from .report import Progress, Report, Section
from .session import Aws
from .status import read_all

CLAIM_COLUMNS = ("role", "stack", "claim", "verdict", "why", "outcome")
ROLE_COLUMNS = ("role", "origin", "marks", "the sweep", "may delete it")


def prune(aws: Aws, deployment: Deployment, progress: Progress, *, apply_changes: bool) -> Report:
    who = sweep.identity(aws)
    before = read_all(aws.iam(), progress)
    done = sweep.run(aws, deployment, who, progress, apply=apply_changes)

    released = "released" if apply_changes else "would release"
    claim_rows: list[tuple[str, ...]] = []
    role_rows: list[tuple[str, ...]] = []
    roles_json: list[dict[str, Any]] = []
    problems: list[str] = []
    notes = deployment.notes()
    for status in before:
        name = status.spec.name
        report = done.role(name)
        claims = claims_of(status.state, report)
        exists = status.state is not None or bool(report and report.exists)
        claim_rows += [
            c.row(outcome=released if c.released else "kept" if c.check else "-") for c in claims
        ]
        plan = sweep.outcome(report, exists=exists, applied=apply_changes)
        role_rows.append((name, status.origin, status.marks, plan, sweep.deletable(report)))
        roles_json.append(
            {
                "role": name,
                "origin": status.origin,
                "claims": [c.as_json() for c in claims],
                "plan": plan,
                **sweep.role_json(report, applied=apply_changes),
            }
        )
        if report is None:
            continue
        if report.failed:
            problems.append(f"{name}: the sweep stopped: {report.failed}")
        pending = sweep.changes(report, applied=False)
        if pending and not apply_changes:
            problems.append(f"{name}: the sweep {'; '.join(pending)}; run with --apply.")
        notes += uncertain_notes(claims)
    return Report(
        command="prune" + (" --apply" if apply_changes else ""),
        sections=[
            Section("Claims", CLAIM_COLUMNS, claim_rows, empty="no role has claims."),
            Section("Sweep" if apply_changes else "Sweep (dry run)", ROLE_COLUMNS, role_rows),
        ],
        data={
            "applied": apply_changes,
            "settings": deployment.as_json(),
            "dms_regions_asked": done.regions,
            "roles": roles_json,
            "summary": done.report.summary(),
        },
        problems=problems,
        notes=notes,
    )
