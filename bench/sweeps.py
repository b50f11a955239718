"""What shared roles cost over time: a stack that comes and goes, and the sweep.

* :func:`measure_churn`: one stack created and deleted again and again within
  the retention (as deployed: 1440 minutes), with the hourly sweep in between.
  Requests never delete, so each role is created once, and only the first
  Create waits out ``PropagationDelaySeconds`` (10 s, really waited): a later
  Create joins a role older than that (the wait counts from its CreateDate).
* :func:`measure_sweep`: 49 stacks in 3 regions each claim all three roles (49
  claims fill a role's 50 tags beside the origin mark), then three sweeps: all
  claims live; every stack gone without its Delete reaching the function (147
  stale claims released, the roles marked); the next sweep with retention 0
  deletes the three roles. Each counts its IAM, CloudFormation and DMS calls and
  its wall time against the stand-ins, with ``SWEEP_SETTLE_SECONDS`` 0 (deployed,
  each deletion waits out two settle times, 60 s each by default).

Both run the function warm (in this process) and return plain figures.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from dms_prereq.catalogue import ROLES

from bench.calls import per_role
from bench.harness import BenchError, Served
from bench.rig import Bench, SweepRun
from bench.scenarios import DEFAULT_ROLES

CHURN_CYCLES = 20
#: After these cycles the hourly sweep comes by (in a churn of seconds, at most once or twice).
CHURN_SWEEPS_AFTER = (10, 20)
AS_DEPLOYED = {"UNCLAIMED_ROLE_RETENTION_MINUTES": "1440", "DMS_REGIONS": "us-east-1"}
SWEEP_STACKS = 49
SWEEP_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
DELETE_NOW = {
    "UNCLAIMED_ROLE_RETENTION_MINUTES": "0",
    "SWEEP_SETTLE_SECONDS": "0",
    "DMS_REGIONS": ",".join(SWEEP_REGIONS),
}
ALL_THREE = {"CreateRedshiftRole": "true", "PropagationDelaySeconds": "0"}


def _created(served: Served) -> Counter[str]:
    """The roles a request created (CreateRole that succeeded)."""
    return Counter(c.role or "-" for c in served.calls if c.action == "CreateRole" and not c.error)


def measure_churn(bench: Bench, cycles: int = CHURN_CYCLES) -> dict[str, Any]:
    """One stack name, created and deleted ``cycles`` times (a new StackId each time)."""
    bench.restart()
    bench.clear_roles()
    creates: list[Served] = []
    deletes: list[Served] = []
    waits: list[float] = []
    sweeps: list[SweepRun] = []
    for cycle in range(cycles):
        stack = bench.stack(name="bench-churn", generation=cycle)
        bench.warm.sleeps.clear()
        creates.append(bench.run(stack, "create"))  # the default 10-second propagation wait
        waits.append(sum(bench.warm.sleeps))
        deletes.append(bench.run(stack, "delete"))
        if cycle + 1 in CHURN_SWEEPS_AFTER:
            sweeps.append(bench.sweep(AS_DEPLOYED))
    created: Counter[str] = Counter()
    for served in creates:
        created += _created(served)
    deleted = sum(
        1 for served in [*creates, *deletes] for c in served.calls if c.action == "DeleteRole"
    )
    kept = {
        role: why
        for run in sweeps[-1:]
        for role, why in dict(run.summary.get("roles_kept") or {}).items()
    }
    later = creates[1:]
    return {
        "cycles": cycles,
        "roles_created": {name: created.get(name, 0) for name in DEFAULT_ROLES},
        "roles_created_once": all(created.get(name) == 1 for name in DEFAULT_ROLES)
        and sum(created.values()) == len(DEFAULT_ROLES),
        "delete_role_calls": deleted,
        "creates_that_waited": sum(1 for w in waits if w > 0),
        "wait_s_total": round(sum(waits), 2),
        "wait_s_first": round(waits[0], 2),
        "first_create_calls": len(creates[0].calls),
        "later_create_calls_median": statistics.median(len(s.calls) for s in later),
        "later_create_ms_median": round(1000 * statistics.median(s.wall_s for s in later), 1),
        "delete_calls_median": statistics.median(len(s.calls) for s in deletes),
        "delete_ms_median": round(1000 * statistics.median(s.wall_s for s in deletes), 1),
        "sweeps": len(sweeps),
        "sweep_kept": kept,
        "wall_s": round(sum(s.wall_s for s in [*creates, *deletes]), 2),
    }


def _sweep_figures(run: SweepRun) -> dict[str, Any]:
    summary = run.summary
    return {
        "stale_claims_released": summary.get("stale_claims_released"),
        "roles_marked": summary.get("roles_marked"),
        "roles_deleted": summary.get("roles_deleted"),
        "roles_kept": summary.get("roles_kept"),
        "failed_lookups": summary.get("failed_lookups"),
        "iam_calls": len(run.iam_calls),
        "iam_calls_by_action": dict(Counter(c.action for c in run.iam_calls)),
        "iam_calls_per_role": per_role(run.iam_calls),
        "cloudformation_calls": sum(run.cloudformation_calls.values()),
        "cloudformation_calls_by_action": run.cloudformation_calls,
        "dms_calls": sum(run.dms_calls.values()),
        "dms_calls_by_action": run.dms_calls,
        "dms_calls_by_region": run.dms_regions,
        "wall_ms": round(1000 * run.wall_s, 1),
    }


def _expect(what: str, found: object, wanted: object) -> None:
    if found != wanted:
        raise BenchError(f"sweep bench: {what} was {found!r}, expected {wanted!r}")


def measure_sweep(bench: Bench) -> dict[str, Any]:
    """3 roles x 49 claims from 49 stacks in 3 regions: three sweeps, as the docstring says."""
    bench.restart()
    bench.clear_roles()
    stacks = [
        bench.stack(region=SWEEP_REGIONS[n % len(SWEEP_REGIONS)]) for n in range(SWEEP_STACKS)
    ]
    for stack in stacks:
        bench.run(stack, "create", ALL_THREE)
    live = bench.sweep(DELETE_NOW)
    _expect("claims released while every stack lives", live.summary["stale_claims_released"], 0)
    for stack in stacks:
        # Gone without a Delete reaching the function (deleted with retain, a lost event).
        bench.aws.cfn_api.delete_stack(stack.stack_id)
    stale = bench.sweep(DELETE_NOW)
    _expect("stale claims released", stale.summary["stale_claims_released"], 3 * SWEEP_STACKS)
    _expect("roles marked", stale.summary["roles_marked"], len(ROLES))
    deleting = bench.sweep(DELETE_NOW)
    _expect("roles deleted", deleting.summary["roles_deleted"], len(ROLES))
    describe = [run.cloudformation_calls.get("DescribeStacks", 0) for run in (live, stale)]
    return {
        "stacks": SWEEP_STACKS,
        "regions": list(SWEEP_REGIONS),
        "claims_per_role": SWEEP_STACKS,
        "all_live": _sweep_figures(live),
        "all_stale": _sweep_figures(stale),
        "deleting": _sweep_figures(deleting),
        "describe_stacks_per_stack": max(describe) / SWEEP_STACKS,
    }
