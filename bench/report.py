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
        ]
    )
