"""``make bench``: the function's cost against its limits, side by side in one run.

Every timing is a ratio or a difference against something measured in the
same run, alternating with it, and medians are compared: this machine is
small and shared, so absolute times drift. Figures:

* ``cold_init_ratio``: a fresh process importing the built artifact's
  ``app`` over one doing only ``import boto3; boto3.client("iam")``;
* ``iam_calls``: exact IAM calls of six typical requests, cold (a fresh
  process per request, as custom resources mostly run) and warm (the same
  process served the requests before it), beside the least the IAM API allows;
* ``wall_ratio_vs_raw``: a Create of all three roles against moto_server, from
  handler entry to the answer's arrival at the CloudFormation stand-in, over a
  plain boto3 script making the same roles with the fewest calls in sequence;
  beside it the same calls in three threads (the best any client gets from
  this IAM), and all three again with 50 ms added to every call (IAM is remote);
* ``delete_overhead_s``: a Delete's time to answer less its time in IAM calls;
* ``package_zip_bytes``: the zipped artifact, and what it is made of;
* ``peak_rss_mb``: peak memory of a fresh process serving one Create;
* ``scaling``: calls and time per request with 1, 10 and 40 claims on the roles.

The function trusts the system's CA certificates plus the stand-in's, as it
trusts the runtime's on Lambda. Writes ``bench/results.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, ROLES, VPC_ROLE, RoleSpec
from dms_prereq.iam import ORIGIN_KEY, claim_key

from bench import artifact, coldstart
from bench.calls import actions, per_role
from bench.harness import (
    REPO,
    AddedLatency,
    BenchError,
    ColdFunction,
    Served,
    WarmFunction,
    serve,
)
from tools.local_aws import CloudFormationStandIn, MotoServer
from tools.stack import SimulatedStack

DEFAULT_ROLES = (VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name)
ALL_ROLES = tuple(role.name for role in ROLES)
#: Every Create here answers at once: the propagation wait adds time, never IAM calls.
NO_WAIT = {"PropagationDelaySeconds": "0"}
ALL_THREE = {"CreateRedshiftRole": "true", **NO_WAIT}
SCALING_LEVELS = (1, 10, 40)
#: A modest figure for one IAM call's round trip from Lambda (IAM is a remote, global service).
REMOTE_IAM_LATENCY_S = 0.05

GOALS = {
    "cold_init_ratio": 1.15,
    "wall_ratio_vs_raw": 1.0,
    "delete_overhead_s": 0.2,
    "package_zip_bytes": 2.5 * 1000 * 1000,
    "peak_rss_mb": 100.0,
}


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
        "CreateRole (trust, tags, boundary in one call) + AttachRolePolicy",
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
        3,
        3,
        0,
        "GetRole (origin, trust, claims) + TagRole (claim) + AttachRolePolicy "
        "(drift repair, and the newcomer's half of the delete race)",
    ),
    Scenario(
        "noop_update",
        "Update with unchanged properties",
        DEFAULT_ROLES,
        2,
        2,
        0,
        "GetRole + AttachRolePolicy (drift check; IAM has no cheaper look at attachments)",
    ),
    Scenario(
        "delete_last_claim",
        "Delete of the last claim",
        DEFAULT_ROLES,
        3,
        4,
        1,
        "GetRole + DetachRolePolicy + DeleteRole (4 with the re-read the race "
        "protocol needs), + GetRole of the role never enabled (spec: all three)",
    ),
    Scenario(
        "delete_claim_remains",
        "Delete while another stack's claim remains",
        DEFAULT_ROLES,
        2,
        2,
        1,
        "GetRole + UntagRole, + GetRole of the role never enabled",
    ),
)


def _trust_store(cfn: CloudFormationStandIn, scratch: Path) -> Path:
    """The system's CA certificates plus the stand-in's.

    On Lambda the function trusts the runtime's ~140 public CAs, and loading them is
    part of every TLS context it builds; trusting the stand-in's CA alone would hide
    that cost.
    """
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    bundle = scratch / "ca-bundle.pem"
    public = system.read_text() if system.is_file() else ""
    bundle.write_text(public + Path(cfn.ca_file).read_text())
    return bundle


class Bench:
    """The stand-ins, the function warm and cold, and a plain boto3 client."""

    def __init__(self, python: str, built: Path, scratch: Path) -> None:
        self.moto = MotoServer().start()
        self.cfn = CloudFormationStandIn().start()
        env = {**self.moto.env(), "SSL_CERT_FILE": str(_trust_store(self.cfn, scratch))}
        os.environ.update(env)
        os.environ.pop("AWS_SAM_LOCAL", None)
        self.raw = boto3.client("iam")
        # moto loads ~1,000 AWS managed policies on its first IAM call: not ours to time.
        self.raw.get_policy(PolicyArn=VPC_ROLE.managed_policy_arn("aws"))
        self.latency = AddedLatency()
        self.latency.attach(self.raw)
        self.warm = WarmFunction()
        self.latency.attach(self.warm.client)
        self.cold = ColdFunction(python, built, env, scratch)
        self._pool = ThreadPoolExecutor(max_workers=len(ROLES), thread_name_prefix="raw")
        self._stacks = 0

    def restart(self) -> None:
        """The warm function gets a new IAM client, as in a new container."""
        self.warm.restart()
        self.latency.attach(self.warm.client)

    def close(self) -> None:
        self._pool.shutdown()
        self.cfn.stop()
        self.moto.stop()

    def stack(self) -> SimulatedStack:
        self._stacks += 1
        return SimulatedStack(name=f"bench-{self._stacks}", invoke=self.warm, cfn=self.cfn)

    def run(
        self,
        stack: SimulatedStack,
        action: str,
        properties: dict[str, str] | None = None,
        *,
        cold: bool = False,
    ) -> Served:
        function = self.cold if cold else self.warm
        return serve(stack, function, self.cfn, action, **(properties or {}))

    # -- the plain boto3 script ----------------------------------------------------------
    def _raw_create(self, role: RoleSpec) -> None:
        """One role in the fewest calls: CreateRole (trust, tags included), AttachRolePolicy."""
        self.raw.create_role(
            RoleName=role.name,
            Path="/",
            AssumeRolePolicyDocument=json.dumps(role.trust_policy(None)),
            Description=f"Lets AWS DMS work: it {role.purpose}.",
            Tags=[
                {"Key": ORIGIN_KEY, "Value": "created"},
                {"Key": claim_key("0123456789abcdef0123"), "Value": "bench raw"},
            ],
        )
        self.raw.attach_role_policy(RoleName=role.name, PolicyArn=role.managed_policy_arn("aws"))

    def raw_create_all(self) -> float:
        """The three roles one after another; seconds taken."""
        started = time.monotonic()
        for role in ROLES:
            self._raw_create(role)
        return time.monotonic() - started

    def raw_create_all_at_once(self) -> float:
        """The three roles in three threads (what any concurrent client could reach here)."""
        started = time.monotonic()
        list(self._pool.map(self._raw_create, ROLES))
        return time.monotonic() - started

    def raw_delete_all(self) -> None:
        for role in ROLES:
            self.raw.detach_role_policy(
                RoleName=role.name, PolicyArn=role.managed_policy_arn("aws")
            )
            self.raw.delete_role(RoleName=role.name)


# -- IAM calls -----------------------------------------------------------------------------
def _play(bench: Bench, scenario: Scenario, cold: bool) -> Served:
    """Set the scene with the warm function, then serve the counted request."""
    bench.restart()
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
    this IAM) and the function (whose Delete then clears the roles, and gives a
    warm Delete-overhead sample). The order rotates from round to round.
    ``latency_s`` adds that pause to every IAM call of both clients.
    """
    bench.restart()
    samples: dict[str, list[float]] = {"raw": [], "raw_threads": [], "function": []}
    delete_overhead: list[float] = []

    def function() -> float:
        stack = bench.stack()
        created = bench.run(stack, "create", ALL_THREE)
        bench.latency.seconds = 0.0
        delete_overhead.append(bench.run(stack, "delete").overhead_s)
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
    }


def measure_cold_deletes(bench: Bench, rounds: int) -> list[Served]:
    """Deletes of the last claim on all three roles, each in a fresh process."""
    served = []
    for _ in range(rounds):
        bench.restart()
        stack = bench.stack()
        bench.run(stack, "create", ALL_THREE)
        served.append(bench.run(stack, "delete", cold=True))
    bench.restart()
    return served


# -- scaling ---------------------------------------------------------------------------------
def measure_scaling(bench: Bench) -> dict[str, Any]:
    """Claims 1..40 on the default roles (warm), then unwind; at each level also a cold Create."""
    bench.restart()
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


# -- report ----------------------------------------------------------------------------------
def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def _wall_line(where: str, wall: dict[str, Any]) -> str:
    return (
        f"wall, {where}: function {wall['function_median_ms']} ms, raw script "
        f"{wall['raw_median_ms']} ms (ratio {wall['ratio_of_medians']:.3f}), same calls in 3 "
        f"threads {wall['raw_threads_median_ms']} ms (ratio {wall['best_concurrent_ratio']:.3f}); "
        f"medians of {wall['rounds']} rounds"
    )


def _mark(met: bool) -> str:
    return "yes" if met else "NO"


def report(results: dict[str, Any]) -> str:
    goals = results["goals"]
    headline = [["figure", "value", "goal", "met"]]
    for key, goal in GOALS.items():
        value = results[key]
        shown = f"{value:,}" if isinstance(value, int) else f"{value:.3f}"
        headline.append([key, shown, f"<= {goal:,g}", _mark(goals[key])])
    calls = [["request", "cold", "warm", "minimum", "per role cold/warm (goal)", "met c/w"]]
    for figure in results["iam_calls"].values():
        cold, warm = figure["cold"], figure["warm"]
        calls.append(
            [
                figure["title"],
                str(cold["calls"]),
                str(warm["calls"]),
                str(figure["minimum"]),
                f"{cold['worst_per_role']}/{warm['worst_per_role']} (<= {figure['goal_per_role']})",
                f"{_mark(cold['met'])}/{_mark(warm['met'])}",
            ]
        )
    scaling = [["claims", "create calls w/c", "create ms w/c", "delete calls", "delete ms"]]
    for claims, level in results["scaling"].items():
        scaling.append(
            [
                claims,
                f"{level['create_calls_warm']}/{level['create_calls_cold']}",
                f"{level['create_ms_warm']}/{level['create_ms_cold']}",
                str(level["delete_calls"]),
                str(level["delete_ms"]),
            ]
        )
    details = results["details"]
    imports = [["cold start step (artifact as shipped)", "ms"]] + [
        [label, f"{ms:.1f}"] for label, ms in details["cold_init"]["import_steps_ms"].items()
    ]
    package = details["package"]
    return "\n\n".join(
        [
            _table(headline),
            _table(calls),
            _table(scaling),
            _table(imports),
            "cold start: {interp}; as shipped {r:.3f}, with bytecode shipped {p:.3f} "
            "(boto3 alone {b:.0f} ms); fastest runs: as shipped {rf:.3f}, bytecode {pf:.3f}".format(
                interp=details["cold_init"]["interpreter"],
                r=results["cold_init_ratio"],
                p=details["cold_init"]["ratio_with_bytecode"],
                b=details["cold_init"]["boto3_only_median_ms"],
                rf=details["cold_init"]["ratios_of_fastest_runs"]["as shipped"],
                pf=details["cold_init"]["ratios_of_fastest_runs"]["bytecode shipped"],
            ),
            "artifact: {origin}; largest parts: {parts}".format(
                origin=package["artifact"],
                parts=", ".join(f"{k} {v / 1000:.0f} kB" for k, v in package["parts"][:4]),
            ),
            _wall_line("moto_server", details["wall"]),
            _wall_line("moto_server + 50 ms per call", details["wall_with_remote_iam_latency"]),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=31, help="alternating wall-time rounds")
    parser.add_argument("--cold-rounds", type=int, default=20, help="fresh processes per variant")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results.json")
    args = parser.parse_args()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    python = coldstart.interpreter(REPO)

    with tempfile.TemporaryDirectory(prefix="dms-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        print(f"[bench] artifact and package ({python.label})", file=sys.stderr)
        built, stale = artifact.locate(REPO, scratch)
        zipped, parts = artifact.zip_bytes(built.path)
        compiled = artifact.precompiled_copy(built.path, python.path, scratch / "precompiled")
        zipped_compiled, _ = artifact.zip_bytes(compiled)

        print("[bench] cold start: fresh processes, alternating", file=sys.stderr)
        samples = coldstart.measure(
            python.path, {"as shipped": built.path, "bytecode shipped": compiled}, args.cold_rounds
        )
        ratios = coldstart.ratios(samples)
        steps = coldstart.breakdown(python.path, built.path, rounds=5)

        print("[bench] IAM calls, wall time, Delete overhead, scaling", file=sys.stderr)
        bench = Bench(python.path, built.path, scratch)
        try:
            iam_calls, cold_runs = measure_iam_calls(bench)
            wall = measure_wall(bench, args.rounds)
            remote = measure_wall(bench, rounds=9, latency_s=REMOTE_IAM_LATENCY_S)
            cold_deletes = measure_cold_deletes(bench, rounds=5)
            scaling = measure_scaling(bench)
        finally:
            bench.close()

    create_cold = cold_runs["create_no_roles"]
    rss_kb = cold_runs["create_all_three"].peak_rss_kb or 0
    results: dict[str, Any] = {
        "cold_init_ratio": round(ratios["as shipped"], 3),
        "iam_calls": iam_calls,
        "wall_ratio_vs_raw": round(wall["ratio_of_medians"], 3),
        "delete_overhead_s": round(statistics.median(s.overhead_s for s in cold_deletes), 4),
        "package_zip_bytes": zipped,
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "scaling": scaling,
        "details": {
            "cold_init": {
                "interpreter": python.label,
                "rounds": args.cold_rounds,
                "boto3_only_median_ms": 1000 * statistics.median(samples[coldstart.BASELINE]),
                "as_shipped_median_ms": 1000 * statistics.median(samples["as shipped"]),
                "ratio_with_bytecode": round(ratios["bytecode shipped"], 3),
                "ratios_of_fastest_runs": {
                    name: round(value, 3)
                    for name, value in coldstart.ratios_of_fastest(samples).items()
                },
                "import_steps_ms": steps,
            },
            "package": {
                "artifact": built.origin,
                "sam_artifact_not_used_because": stale,
                "parts": list(parts.items()),
                "zip_bytes_with_bytecode": zipped_compiled,
            },
            "wall": wall,
            "wall_with_remote_iam_latency": remote,
            "delete": {
                "cold_overhead_s": [round(s.overhead_s, 4) for s in cold_deletes],
                "warm_overhead_median_s": round(wall["warm_delete_overhead_s"], 4),
            },
            "cold_create_default": {
                "init_s": create_cold.import_s,
                "handler_to_answer_s": create_cold.wall_s,
                "in_iam_calls_s": create_cold.iam_busy_s,
                "other_s": create_cold.overhead_s,
            },
            "peak_rss_mb_any_fresh_process": round(
                max((s.peak_rss_kb or 0) for s in [*cold_runs.values(), *cold_deletes]) / 1024, 1
            ),
            "python_for_fresh_processes": python.label,
            "bench_seconds": round(time.monotonic() - started, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_1min_at_start": round(load_before, 2),
                "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            },
        },
    }
    results["goals"] = {key: (results[key] <= goal) for key, goal in GOALS.items()} | {
        "iam_calls_cold": all(f["cold"]["met"] for f in iam_calls.values())
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    machine = results["details"]["machine"]
    print(
        f"\nwrote {args.output.relative_to(REPO)} in {results['details']['bench_seconds']} s "
        f"({machine['cpus']} CPUs, load {machine['load_average_1min_at_start']} at start, "
        f"{machine['load_average_1min_at_end']} at end)"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
