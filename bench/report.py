"""The bench's report: its goals, and the tables ``make bench`` prints.

:data:`GOALS` are the limits docs/performance.md sets for the headline
figures; :func:`report` turns ``bench/results.json``'s content into the text
``make bench`` prints.
"""

from __future__ import annotations

from typing import Any

#: The cold-start variants: the artifact as `make build` ships it, and as a plain
#: `sam build` would (no bytecode), for what the build step is worth.
AS_SHIPPED = "as shipped"
WITHOUT_BYTECODE = "without bytecode"

GOALS = {
    "cold_init_ratio": 1.15,
    "wall_ratio_vs_raw": 1.0,
    "delete_overhead_s": 0.2,
    "package_zip_bytes": 2.5 * 1000 * 1000,
    "peak_rss_mb": 100.0,
}


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


#: The goals that are yes-or-no, and what each promises.
CHECKS = {
    "iam_calls_cold": "every request at or under its per-role goal, cold",
    "churn_roles_created_once": "20 creates and deletes of one stack create each role once",
    "churn_wait_paid_once": "... and only the first Create waits out PropagationDelaySeconds",
    "sweep_one_describe_stacks_per_stack": "a sweep asks DescribeStacks at most once per stack",
}


def _churn_line(churn: dict[str, Any]) -> str:
    created = ", ".join(f"{role} {n}" for role, n in churn["roles_created"].items())
    kept = "; ".join(f"{role}: {why}" for role, why in sorted(churn["sweep_kept"].items()))
    return (
        f"churn: one stack created and deleted {churn['cycles']} times: roles created "
        f"{created}; DeleteRole calls {churn['delete_role_calls']}; propagation wait paid by "
        f"{churn['creates_that_waited']} Create ({churn['wait_s_total']} s in all); IAM calls: "
        f"first Create {churn['first_create_calls']}, later Creates "
        f"{churn['later_create_calls_median']:g} ({churn['later_create_ms_median']} ms), Deletes "
        f"{churn['delete_calls_median']:g} ({churn['delete_ms_median']} ms), medians; "
        f"{churn['sweeps']} sweeps on the way kept the roles ({kept or 'nothing to keep'})"
    )


def _sweep_table(sweep: dict[str, Any]) -> str:
    rows = [
        [
            f"sweep, {sweep['claims_per_role']} claims x 3 roles, {sweep['stacks']} stacks",
            "released",
            "marked",
            "deleted",
            "IAM",
            "CloudFormation",
            "DMS (regions)",
            "ms",
        ]
    ]
    for key, title in (
        ("all_live", "every stack live"),
        ("all_stale", "every stack gone"),
        ("deleting", "next sweep, retention 0"),
    ):
        run = sweep[key]
        cfn = run["cloudformation_calls_by_action"]
        rows.append(
            [
                title,
                str(run["stale_claims_released"]),
                str(run["roles_marked"]),
                str(run["roles_deleted"]),
                str(run["iam_calls"]),
                f"{run['cloudformation_calls']} ({cfn.get('DescribeStacks', 0)} DescribeStacks)",
                f"{run['dms_calls']} ({len(run['dms_calls_by_region'])})",
                str(run["wall_ms"]),
            ]
        )
    return _table(rows)


def report(results: dict[str, Any]) -> str:
    goals = results["goals"]
    headline = [["figure", "value", "goal", "met"]]
    for key, goal in GOALS.items():
        value = results[key]
        shown = f"{value:,}" if isinstance(value, int) else f"{value:.3f}"
        headline.append([key, shown, f"<= {goal:,g}", _mark(goals[key])])
    for key, promise in CHECKS.items():
        headline.append([key, promise, "yes", _mark(goals[key])])
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
            "cold start: {interp}; as shipped {r:.3f}, without bytecode (plain sam build) "
            "{p:.3f} (boto3 alone {b:.0f} ms); fastest runs: as shipped {rf:.3f}, "
            "without bytecode {pf:.3f}".format(
                interp=details["cold_init"]["interpreter"],
                r=results["cold_init_ratio"],
                p=details["cold_init"]["ratio_without_bytecode"],
                b=details["cold_init"]["boto3_only_median_ms"],
                rf=details["cold_init"]["ratios_of_fastest_runs"][AS_SHIPPED],
                pf=details["cold_init"]["ratios_of_fastest_runs"][WITHOUT_BYTECODE],
            ),
            "artifact: {origin}; zipped {z:,} bytes ({zs:,} without bytecode); "
            "largest parts: {parts}".format(
                origin=package["artifact"],
                z=results["package_zip_bytes"],
                zs=package["zip_bytes_without_bytecode"],
                parts=", ".join(f"{k} {v / 1000:.0f} kB" for k, v in package["parts"][:4]),
            ),
            _wall_line("moto_server", details["wall"]),
            _wall_line("moto_server + 50 ms per call", details["wall_with_remote_iam_latency"]),
            "delete: {calls} IAM calls (1 UntagRole per role); overhead {o:.4f} s warm, of which "
            "{c:.4f} s the CloudFormation request check".format(
                calls=details["delete"]["iam_calls"],
                o=details["delete"]["warm_overhead_median_s"],
                c=details["delete"]["warm_check_median_s"],
            ),
            _churn_line(results["churn"]),
            _sweep_table(results["sweep"]),
        ]
    )
