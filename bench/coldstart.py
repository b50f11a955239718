"""Cold start: fresh processes importing the function, against boto3 alone.

Each sample is the wall time of a whole fresh interpreter process, so both
sides pay the same interpreter start-up. Variants run in turn, round after
round, so that the machine's noise hits them alike; medians are compared.
``PYTHONDONTWRITEBYTECODE=1`` stands for Lambda's read-only code directory:
what the artifact ships as source is compiled again by every process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BenchError

BASELINE = "boto3 only"
_BASELINE_CODE = 'import boto3; boto3.client("iam")'
_APP_CODE = "import app"


@dataclass(frozen=True)
class Interpreter:
    path: str
    label: str


def interpreter(repo: Path) -> Interpreter:
    """Lambda's Python (3.13, with the runtime's boto3) from ``make runtime-venv``.

    Nothing else stands in for it: another interpreter or SDK imports other
    code at another speed, so without it the bench stops (BenchError).
    """
    runtime = repo / ".venv-runtime"
    python = runtime / "bin" / "python"
    if not ((runtime / ".installed").is_file() and python.is_file()):
        raise BenchError(
            f"{runtime} (Lambda's Python) is missing: run `make bench`, which makes it first "
            "(make runtime-venv)"
        )
    found = subprocess.run(  # noqa: S603 - our own interpreter
        [str(python), "-c", "import sys, boto3; print(sys.version.split()[0], boto3.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return Interpreter(str(python), f"Python {found[0]}, boto3 {found[1]} (.venv-runtime)")


def _environment(pythonpath: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - a placeholder, never sent anywhere
    )
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def _run_once(python: str, code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - our own interpreter and code
        [python, "-c", code], env=env, check=True, cwd="/", stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def measure(python: str, artifacts: dict[str, Path], rounds: int) -> dict[str, list[float]]:
    """Seconds per fresh process: the baseline and ``import app`` from each artifact.

    The order rotates from round to round; a first round warms the file cache and
    is not kept.
    """
    runs: list[tuple[str, str, dict[str, str]]] = [
        (BASELINE, _BASELINE_CODE, _environment(None))
    ] + [(name, _APP_CODE, _environment(path)) for name, path in artifacts.items()]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    for round_number in range(rounds + 1):
        shift = round_number % len(runs)  # each variant takes each place in turn
        for name, code, env in runs[shift:] + runs[:shift]:
            seconds = _run_once(python, code, env)
            if round_number:
                samples[name].append(seconds)
    return samples


def ratios(samples: dict[str, list[float]]) -> dict[str, float]:
    """Median of each variant divided by the baseline's median."""
    base = statistics.median(samples[BASELINE])
    return {name: statistics.median(values) / base for name, values in samples.items()}


def ratios_of_fastest(samples: dict[str, list[float]]) -> dict[str, float]:
    """Fastest run of each variant over the baseline's fastest: noise only ever adds time,
    so on a busy machine this shows the intrinsic cost better than medians do."""
    base = min(samples[BASELINE])
    return {name: min(values) / base for name, values in samples.items()}


#: What app.py's import costs, step by step, in the order a cold start pays it.
#: A module another step already imported costs nothing the second time.
IMPORT_STEPS: tuple[tuple[str, str], ...] = (
    ("import boto3", "import boto3"),
    ("import concurrent.futures", "import concurrent.futures"),
    ("import urllib.request", "import urllib.request"),
    ("import aws_lambda_powertools (Logger)", "from aws_lambda_powertools import Logger"),
    ("import crhelper", "import crhelper"),
    ("import dms_prereq", "import dms_prereq.resource, dms_prereq.cfn"),
    ("app.py: Logger, crhelper set-up, IAM client", "import app"),
)


def _breakdown_code() -> str:
    lines = ["import json, time", "marks = [time.perf_counter()]"]
    for _, statement in IMPORT_STEPS:
        lines += [statement, "marks.append(time.perf_counter())"]
    lines.append("print(json.dumps([b - a for a, b in zip(marks, marks[1:])]))")
    return "\n".join(lines)


def breakdown(python: str, artifact: Path, rounds: int) -> dict[str, float]:
    """Median milliseconds of each of :data:`IMPORT_STEPS` in fresh processes."""
    code = _breakdown_code()
    env = _environment(artifact)
    samples: list[list[float]] = []
    for _ in range(rounds):
        finished = subprocess.run(  # noqa: S603 - our own interpreter and code
            [python, "-c", code], env=env, check=True, cwd="/", capture_output=True, text=True
        )
        last_line = finished.stdout.strip().splitlines()[-1]
        samples.append([float(x) for x in json.loads(last_line)])
    return {
        label: 1000 * statistics.median(sample[i] for sample in samples)
        for i, (label, _) in enumerate(IMPORT_STEPS)
    }
