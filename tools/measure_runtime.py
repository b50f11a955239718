"""``make measure-runtime``: init and invoke durations and peak memory under the local runtime.

Each round is a new execution environment (a cold start) on a fresh local IAM:
Create with events/create.json's properties, Update to events/update.json's
(which adds dms-access-for-endpoint), then Delete (which releases the claims;
the roles stay for the sweep), through the built artifact
on awslambdaric (:mod:`tools.lambda_runtime`). PropagationDelaySeconds is set
to 0 so the numbers are the function's own work: a Create or Update that
makes a role waits that many seconds more, by design. moto loads the AWS
managed policies within its first IAM calls after a reset (about a second);
those calls are made before each round so they are not counted.

Prints a Markdown table (median, min, max over the rounds) and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from typing import Any

import boto3

from testkit import REGION
from testkit.local_aws import LocalAws, local_aws
from testkit.stack import SimulatedStack, load_event
from tools.lambda_runtime import Invocation, LocalLambda

WARM_UP_POLICY = "AmazonDMSVPCManagementRole"


def sample_properties(name: str) -> dict[str, Any]:
    """ResourceProperties of an events/ sample, without the ServiceToken, no propagation wait."""
    properties = dict(load_event(name)["ResourceProperties"])
    properties.pop("ServiceToken", None)
    return {**properties, "PropagationDelaySeconds": "0"}


def one_round(aws: LocalAws, name: str) -> dict[str, float]:
    """Create, Update, Delete on a new execution environment; the durations and peak memory.

    CloudFormation shows each operation meanwhile, as the function's request check asks.
    """
    with LocalLambda(env=aws.env()) as function:
        stack = SimulatedStack(name, invoke=function.invoke, cfn=aws.cfn, api=aws.cfn_api)
        for step, properties in (
            ("create", sample_properties("create")),
            ("update", sample_properties("update")),
        ):
            body = getattr(stack, step)(**properties)
            if body["Status"] != "SUCCESS":
                raise RuntimeError(f"{step} answered {body['Status']}: {body['Reason']}")
        body = stack.delete()
        if body["Status"] != "SUCCESS":
            raise RuntimeError(f"delete answered {body['Status']}: {body['Reason']}")
        create, update, delete = function.invocations
        if not all(i.outcome == "success" for i in function.invocations):
            raise RuntimeError(f"an invocation failed: {[i.outcome for i in function.invocations]}")
        return {
            "Init Duration (cold start)": _required(create.init_duration_ms),
            "Create (cold)": create.duration_ms,
            "Update (warm)": update.duration_ms,
            "Delete (warm)": delete.duration_ms,
            "Max Memory Used (MB)": max(_mb(i) for i in function.invocations),
        }


def _required(value: float | None) -> float:
    if value is None:
        raise RuntimeError("the first invocation was not a cold start")
    return value


def _mb(invocation: Invocation) -> float:
    return invocation.max_memory_mb or 0.0


def _warm_up(iam: Any) -> None:
    """Until moto has loaded the AWS managed policies (within the first calls after a reset)."""
    for _ in range(5):
        started = time.monotonic()
        iam.get_policy(PolicyArn=f"arn:aws:iam::aws:policy/service-role/{WARM_UP_POLICY}")
        if time.monotonic() - started < 0.1:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make measure-runtime", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    results: list[dict[str, float]] = []
    with local_aws() as aws:
        local = aws.moto.env()
        iam = boto3.client(
            "iam",
            region_name=REGION,
            endpoint_url=aws.moto.url,
            aws_access_key_id=local["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=local["AWS_SECRET_ACCESS_KEY"],
        )
        for index in range(args.rounds):
            aws.moto.reset()
            _warm_up(iam)
            results.append(one_round(aws, f"measure-{index}"))
    print(f"{args.rounds} rounds, {platform.machine()}, {os.cpu_count()} CPUs\n")
    print("| measure | median | min | max |")
    print("|---|---:|---:|---:|")
    for key in results[0]:
        values = [r[key] for r in results]
        unit = "" if "MB" in key else " ms"
        print(
            f"| {key} | {statistics.median(values):.0f}{unit} "
            f"| {min(values):.0f}{unit} | {max(values):.0f}{unit} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
