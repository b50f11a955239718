"""``make bench``: the function's cost against its limits, side by side in one run.

Every timing is a ratio or a difference against something measured in the
same run, alternating with it, and medians are compared: this machine is
small and shared, so absolute times drift. Figures:

* ``cold_init_ratio``: a fresh process of Lambda's Python importing the
  shipped artifact's ``app`` over one doing only
  ``import boto3; boto3.client("iam")``;
* ``iam_calls``: exact IAM calls of six typical requests, cold (a fresh
  process per request, as custom resources mostly run) and warm (the same
  process served the requests before it), beside the least the IAM API allows;
* ``wall_ratio_vs_raw``: a Create of all three roles against moto_server, from
  handler entry to the answer's arrival at the CloudFormation stand-in, over a
  plain boto3 script making the same roles with the fewest calls in sequence;
  beside it the same calls in three threads (the best any client gets from
  this IAM), and all three again with 50 ms added to every call (IAM is remote);
* ``delete_overhead_s``: a Delete's time to answer less its time in IAM calls
  (the request check with CloudFormation included; its own time is in the details);
* ``package_zip_bytes``: the zipped artifact, and what it is made of;
* ``peak_rss_mb``: peak memory of a fresh process serving one Create;
* ``scaling``: calls and time per request with 1, 10 and 40 claims on the roles;
* ``churn``: one stack created and deleted 20 times within the retention: each
  role is created once, and only the first Create waits (:mod:`bench.sweeps`);
* ``sweep``: the sweep over 3 roles x 49 claims from 49 stacks in 3 regions, all
  live, all stale, then deleting: its IAM, CloudFormation and DMS calls and wall
  time against the stand-ins (:mod:`bench.sweeps`).

What ships is what is measured: the artifact ``make build`` leaves (with its
bytecode) on Lambda's Python from ``make runtime-venv``. ``make bench`` makes
both first; without them this stops and says so (:mod:`bench.artifact`,
:mod:`bench.coldstart`). The scenarios are in :mod:`bench.scenarios`, on the
rig of :mod:`bench.rig`; the printed tables in :mod:`bench.report`.

The function trusts the system's CA certificates plus the stand-in's, as it
trusts the runtime's on Lambda. Writes ``bench/results.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import artifact, coldstart, scenarios, sweeps
from bench.harness import REPO, BenchError, Served
from bench.report import AS_SHIPPED, GOALS, WITHOUT_BYTECODE, report
from bench.rig import Bench


def _cold_init(
    samples: dict[str, list[float]], label: str, rounds: int, steps: dict[str, float]
) -> dict[str, Any]:
    """The cold-start details: medians, ratios, and the as-shipped import steps."""
    ratios = coldstart.ratios(samples)
    return {
        "interpreter": label,
        "rounds": rounds,
        "boto3_only_median_ms": 1000 * statistics.median(samples[coldstart.BASELINE]),
        "as_shipped_median_ms": 1000 * statistics.median(samples[AS_SHIPPED]),
        "ratio_without_bytecode": round(ratios[WITHOUT_BYTECODE], 3),
        "ratios_of_fastest_runs": {
            name: round(value, 3) for name, value in coldstart.ratios_of_fastest(samples).items()
        },
        "import_steps_ms": steps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=31, help="alternating wall-time rounds")
    parser.add_argument("--cold-rounds", type=int, default=20, help="fresh processes per variant")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results.json")
    args = parser.parse_args()
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    # Both refuse anything but what ships (BenchError), before any time is spent.
    python = coldstart.interpreter(REPO)
    built = artifact.locate(REPO)

    with tempfile.TemporaryDirectory(prefix="dms-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        print(f"[bench] artifact and package ({python.label})", file=sys.stderr)
        zipped, parts = artifact.zip_bytes(built.path)
        source_only = artifact.source_only_copy(built.path, scratch / "source-only")
        zipped_source_only, _ = artifact.zip_bytes(source_only)

        print("[bench] cold start: fresh processes, alternating", file=sys.stderr)
        variants = {AS_SHIPPED: built.path, WITHOUT_BYTECODE: source_only}
        samples = coldstart.measure(python.path, variants, args.cold_rounds)
        steps = coldstart.breakdown(python.path, built.path, rounds=5)

        print("[bench] IAM calls, wall time, Delete overhead, scaling", file=sys.stderr)
        bench = Bench(python.path, built.path, scratch)
        try:
            iam_calls, cold_runs = scenarios.measure_iam_calls(bench)
            wall = scenarios.measure_wall(bench, args.rounds)
            remote = scenarios.measure_wall(
                bench, rounds=9, latency_s=scenarios.REMOTE_IAM_LATENCY_S
            )
            cold_deletes = scenarios.measure_cold_deletes(bench, rounds=5)
            scaling = scenarios.measure_scaling(bench)
            print("[bench] churn (20 creates and deletes, 10 s wait once), sweeps", file=sys.stderr)
            churn = sweeps.measure_churn(bench)
            sweep = sweeps.measure_sweep(bench)
        finally:
            bench.close()

    results = _results(
        iam_calls=iam_calls,
        cold_runs=cold_runs,
        cold_deletes=cold_deletes,
        wall=wall,
        remote=remote,
        scaling=scaling,
        churn=churn,
        sweep=sweep,
        cold_init=_cold_init(samples, python.label, args.cold_rounds, steps),
        cold_init_ratio=coldstart.ratios(samples)[AS_SHIPPED],
        package={
            "artifact": built.origin,
            "parts": list(parts.items()),
            "zip_bytes_without_bytecode": zipped_source_only,
        },
        zipped=zipped,
        started=started,
        load_before=load_before,
    )
    machine = results["details"]["machine"]
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(
        f"\nwrote {_shown(args.output)} in {results['details']['bench_seconds']} s "
        f"({machine['cpus']} CPUs, load {machine['load_average_1min_at_start']} at start, "
        f"{machine['load_average_1min_at_end']} at end)"
    )
    return 0


def _shown(path: Path) -> str:
    """The path from the repository, when it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def _results(
    *,
    iam_calls: dict[str, Any],
    cold_runs: dict[str, Served],
    cold_deletes: list[Served],
    wall: dict[str, Any],
    remote: dict[str, Any],
    scaling: dict[str, Any],
    churn: dict[str, Any],
    sweep: dict[str, Any],
    cold_init: dict[str, Any],
    cold_init_ratio: float,
    package: dict[str, Any],
    zipped: int,
    started: float,
    load_before: float,
) -> dict[str, Any]:
    """bench/results.json: the headline figures, whether each meets its goal, the details."""
    create_cold = cold_runs["create_no_roles"]
    rss_kb = cold_runs["create_all_three"].peak_rss_kb or 0
    results: dict[str, Any] = {
        "cold_init_ratio": round(cold_init_ratio, 3),
        "iam_calls": iam_calls,
        "wall_ratio_vs_raw": round(wall["ratio_of_medians"], 3),
        "delete_overhead_s": round(statistics.median(s.overhead_s for s in cold_deletes), 4),
        "package_zip_bytes": zipped,
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "scaling": scaling,
        "churn": churn,
        "sweep": sweep,
        "details": {
            "cold_init": cold_init,
            "package": package,
            "wall": wall,
            "wall_with_remote_iam_latency": remote,
            "delete": {
                "iam_calls": iam_calls["delete_last_claim"]["cold"]["calls"],
                "cold_overhead_s": [round(s.overhead_s, 4) for s in cold_deletes],
                "warm_overhead_median_s": round(wall["warm_delete_overhead_s"], 4),
                "warm_check_median_s": round(wall["warm_delete_check_s"], 4),
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
            "python_for_fresh_processes": cold_init["interpreter"],
            "bench_seconds": round(time.monotonic() - started, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_1min_at_start": round(load_before, 2),
                "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            },
        },
    }
    results["goals"] = {key: (results[key] <= goal) for key, goal in GOALS.items()} | {
        "iam_calls_cold": all(f["cold"]["met"] for f in iam_calls.values()),
        "churn_roles_created_once": churn["roles_created_once"],
        "churn_wait_paid_once": churn["creates_that_waited"] == 1,
        "sweep_one_describe_stacks_per_stack": sweep["describe_stacks_per_stack"] <= 1,
    }
    return results


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
