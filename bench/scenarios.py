"""What the bench plays: the counted requests and the timed rounds, on the rig.

Each :class:`Scenario` is one typical request whose IAM calls are counted,
cold (a fresh process) and warm (the process served the requests before it),
beside the least the IAM API allows for it. The other measurements time the
function against the plain boto3 script in alternating rounds, Deletes in
fresh processes, and requests with 1 to 40 claims on the roles. Every function
here returns plain figures; :mod:`bench.report` prints them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, ROLES, VPC_ROLE

from bench.calls import actions, per_role
from bench.harness import Served
from bench.rig import Bench

DEFAULT_ROLES = (VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name)
ALL_ROLES = tuple(role.name for role in ROLES)
#: Every Create here answers at once: the propagation wait adds time, never IAM calls.
NO_WAIT = {"PropagationDelaySeconds": "0"}
ALL_THREE = {"CreateRedshiftRole": "true", **NO_WAIT}
SCALING_LEVELS = (1, 10, 40)
#: A modest figure for one IAM call's round trip from Lambda (IAM is a remote, global service).
REMOTE_IAM_LATENCY_S = 0.05


@dataclass(frozen=True)
class Scenario:
    """A request whose IAM calls are counted, and the least the IAM API allows for it."""

    key: str
    title: str
    roles: tuple[str, ...]
    minimum_per_role: int
    goal_per_role: int
    #: Calls a minimal implementation makes on roles the stack never enabled.
    minimum_probes: int
    why_minimum: str

    @property
    def minimum(self) -> int:
        return self.minimum_per_role * len(self.roles) + self.minimum_probes


SCENARIOS = (
    Scenario(
        "create_no_roles",
        "Create, no role exists (default properties)",
        DEFAULT_ROLES,
        2,
        2,
        0,
        "CreateRole (trust, claim, tags, boundary in one call) + AttachRolePolicy",
    ),
    Scenario(
        "create_all_three",
        "Create of all three roles, none exists",
        ALL_ROLES,
        2,
        2,
        0,
        "CreateRole + AttachRolePolicy",
    ),
    Scenario(
        "create_joining",
        "Create, another stack holds the roles",
        DEFAULT_ROLES,
        4,
        4,
        0,
        "GetRole (origin, path, trust) + TagRole (the claim, whatever the read says) + "
        "AttachRolePolicy (always: the attach after the claim is what stops a sweep's DeleteRole) "
        "+ TagRole again (the role may have been deleted and made anew in between)",
    ),
    Scenario(
        "noop_update",
        "Update with unchanged properties",
        DEFAULT_ROLES,
        4,
        4,
        0,
        "GetRole + TagRole + AttachRolePolicy + TagRole: an Update claims exactly as a Create, "
        "whatever a read says (a read may lag behind a Delete that removed the claim)",
    ),
    Scenario(
        "delete_last_claim",
        "Delete of the last claim",
        DEFAULT_ROLES,
        1,
        1,
        1,
        "UntagRole of this resource's claim, whatever a read says; + UntagRole on the role "
        "never enabled (spec: all three). Nothing is detached or deleted: the sweep does that",
    ),
    Scenario(
        "delete_claim_remains",
        "Delete while another stack's claim remains",
        DEFAULT_ROLES,
        1,
        1,
        1,
        "UntagRole, + UntagRole on the role never enabled",
    ),
)


# -- IAM calls -----------------------------------------------------------------------------
def _play(bench: Bench, scenario: Scenario, cold: bool) -> Served:
    """Set the scene with the warm function, then serve the counted request."""
    bench.restart()
    bench.clear_roles()
    subject, other = bench.stack(), bench.stack()
    properties = ALL_THREE if scenario.roles == ALL_ROLES else NO_WAIT
    leftover = [subject]
    if scenario.key in ("create_no_roles", "create_all_three"):
        served = bench.run(subject, "create", properties, cold=cold)
    elif scenario.key == "create_joining":
        bench.run(other, "create", NO_WAIT)
        served = bench.run(subject, "create", NO_WAIT, cold=cold)
        leftover.append(other)
    elif scenario.key == "noop_update":
        bench.run(subject, "create", NO_WAIT)
        served = bench.run(subject, "update", NO_WAIT, cold=cold)
    elif scenario.key == "delete_last_claim":
        bench.run(subject, "create", NO_WAIT)
        served = bench.run(subject, "delete", cold=cold)
        leftover = []
    elif scenario.key == "delete_claim_remains":
        bench.run(other, "create", NO_WAIT)
        bench.run(subject, "create", NO_WAIT)
        served = bench.run(subject, "delete", cold=cold)
        leftover = [other]
    else:
        raise ValueError(scenario.key)
    for stack in leftover:
        bench.run(stack, "delete")
    return served


def _counted(scenario: Scenario, served: Served) -> dict[str, Any]:
    counts = per_role(served.calls)
    worst = max(counts.get(name, 0) for name in scenario.roles)
    return {
        "calls": len(served.calls),
        "per_role": counts,
        "worst_per_role": worst,
        "met": worst <= scenario.goal_per_role,
        "sequence": actions(served.calls),
        "wall_ms": round(1000 * served.wall_s, 1),
    }


def measure_iam_calls(bench: Bench) -> tuple[dict[str, Any], dict[str, Served]]:
    figures: dict[str, Any] = {}
    cold_runs: dict[str, Served] = {}
    for scenario in SCENARIOS:
        cold = _play(bench, scenario, cold=True)
        warm = _play(bench, scenario, cold=False)
        cold_runs[scenario.key] = cold
        figures[scenario.key] = {
            "title": scenario.title,
            "roles": list(scenario.roles),
            "minimum": scenario.minimum,
            "minimum_per_role": scenario.minimum_per_role,
            "why_minimum": scenario.why_minimum,
            "goal_per_role": scenario.goal_per_role,
            "cold": _counted(scenario, cold),
            "warm": _counted(scenario, warm),
        }
    return figures, cold_runs


# -- wall time and Delete overhead -------------------------------------------------------------
def measure_wall(bench: Bench, rounds: int, latency_s: float = 0.0) -> dict[str, Any]:
    """Alternate the function's Create of all three roles with the plain script's.

    Each round runs the plain script one role after another (the ratio's
    denominator), the same calls in three threads (the best any client gets from
    this IAM) and the function (whose Delete gives a warm Delete-overhead sample;
    the roles it leaves for the sweep are then removed as the script removes its
    own). The order rotates from round to round. ``latency_s`` adds that pause to
    every call of both clients (the function's CloudFormation check included).
    """
    bench.restart()
    bench.clear_roles()
    samples: dict[str, list[float]] = {"raw": [], "raw_threads": [], "function": []}
    delete_overhead: list[float] = []
    delete_check: list[float] = []

    def function() -> float:
        stack = bench.stack()
        created = bench.run(stack, "create", ALL_THREE)
        bench.latency.seconds = 0.0
        deleted = bench.run(stack, "delete")
        delete_overhead.append(deleted.overhead_s)
        delete_check.append(deleted.check_s)
        # A Delete leaves the roles (the sweep deletes them); the next round needs none.
        bench.raw_delete_all()
        return created.wall_s

    def cleared(create: Callable[[], float]) -> Callable[[], float]:
        def run() -> float:
            seconds = create()
            bench.latency.seconds = 0.0
            bench.raw_delete_all()
            return seconds

        return run

    runners: list[tuple[str, Callable[[], float]]] = [
        ("raw", cleared(bench.raw_create_all)),
        ("raw_threads", cleared(bench.raw_create_all_at_once)),
        ("function", function),
    ]
    for number in range(rounds):
        shift = number % len(runners)
        for name, run in runners[shift:] + runners[:shift]:
            bench.latency.seconds = latency_s
            samples[name].append(run())
    bench.latency.seconds = 0.0
    bench.clear_roles()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "rounds": rounds,
        "added_latency_ms": round(1000 * latency_s),
        "raw_median_ms": round(1000 * medians["raw"], 1),
        "raw_threads_median_ms": round(1000 * medians["raw_threads"], 1),
        "function_median_ms": round(1000 * medians["function"], 1),
        "ratio_of_medians": medians["function"] / medians["raw"],
        "median_of_paired_ratios": statistics.median(
            f / r for f, r in zip(samples["function"], samples["raw"], strict=True)
        ),
        "best_concurrent_ratio": medians["raw_threads"] / medians["raw"],
        "warm_delete_overhead_s": statistics.median(delete_overhead),
        "warm_delete_check_s": statistics.median(delete_check),
    }


def measure_cold_deletes(bench: Bench, rounds: int) -> list[Served]:
    """Deletes of the last claim on all three roles, each in a fresh process."""
    served = []
    for _ in range(rounds):
        bench.restart()
        bench.clear_roles()
        stack = bench.stack()
        bench.run(stack, "create", ALL_THREE)
        served.append(bench.run(stack, "delete", cold=True))
    bench.restart()
    return served


# -- scaling ---------------------------------------------------------------------------------
def measure_scaling(bench: Bench) -> dict[str, Any]:
    """Claims 1..40 on the default roles (warm), then unwind; at each level also a cold Create."""
    bench.restart()
    bench.clear_roles()
    top = max(SCALING_LEVELS)
    stacks = [bench.stack() for _ in range(top)]
    ramp = [bench.run(stack, "create", NO_WAIT) for stack in stacks]
    levels: dict[str, Any] = {}
    for claims in range(top, 0, -1):
        stack = stacks[claims - 1]
        released = bench.run(stack, "delete")
        if claims not in SCALING_LEVELS:
            continue
        cold = bench.run(stack, "create", NO_WAIT, cold=True)
        bench.run(stack, "delete")
        warm = ramp[claims - 1]
        levels[str(claims)] = {
            "create_calls_warm": len(warm.calls),
            "create_ms_warm": round(1000 * warm.wall_s, 1),
            "create_calls_cold": len(cold.calls),
            "create_ms_cold": round(1000 * cold.wall_s, 1),
            "delete_calls": len(released.calls),
            "delete_ms": round(1000 * released.wall_s, 1),
        }
    return levels
