"""``make demo``: two stacks share the DMS roles, leave them, and the sweep tidies up.

The story, on a local AWS (:func:`testkit.local_aws.local_aws`: moto_server's
IAM with the AWS managed policies, and its DMS and EC2; CloudFormation's stack
reads and its HTTPS answer endpoint), all on 127.0.0.1:

0. Somebody made ``dms-access-for-endpoint`` in the console long ago, and gave
   it an inline policy of their own.
1. Stack ``dms-pipeline-a`` declares the resource: the two default roles are created.
2. A colleague makes a DMS replication subnet group in the console, in another
   region. DMS finds ``dms-vpc-role`` by its name: no claim, no stack.
3. Stack ``dms-pipeline-b`` declares the resource too, with Redshift: it shares
   the two roles and adopts the console one.
4. ``dms-pipeline-a`` is deleted: its claims go, every role stays.
5. ``dms-pipeline-b`` is deleted: its claims go, and still every role stays,
   unclaimed. A request never deletes: IAM's reads lag, so no request can
   prove that nobody claims a role; the sweep, which asks CloudFormation, does.
6. The sweep runs (the scheduled event, events/scheduled.json), with
   ``UnclaimedRoleRetentionMinutes`` 0 and a one-second settle: it marks the
   roles this project created ``unclaimed-since`` and takes this project's tags
   off the console role, which nobody claims.
7. The next sweep deletes ``dms-cloudwatch-logs-role``, which nobody needs,
   and keeps ``dms-vpc-role``, which the console-made subnet group still uses;
   its summary says so.

CloudFormation is played by :class:`testkit.stack.SimulatedStack` on the stack
reads of :class:`testkit.cfn_api.CloudFormationApi`: the function checks every
request against them (``VerifyRequests``, true by default), and the sweep asks
them which stacks still exist. DMS is moto's behind
:class:`testkit.dms_api.DmsApi`, asked in the demo's region and one more.

Each invocation runs the *built artifact* (``make build``) under the real Lambda
runtime interface client on Python 3.13 (tools/lambda_runtime.py), cold, as
custom resources and hourly sweeps usually run. After each step the demo prints
what CloudFormation received (or the sweep's summary), the invocation's REPORT
figures, and the roles as IAM reports them. It checks the story's ending, and
stops everything it started before it exits.

``--without-lambda-runtime`` (what ``make demo`` runs where no Python 3.13 is
found) plays the same story on the Python running the demo (3.11 or newer):
each invocation runs ``handler/``'s source in a fresh interpreter, still cold,
and one line says so. ``make test`` and ``make build`` still need Python 3.13.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE
from dms_prereq.ownership import (
    DELETING_SINCE_KEY,
    ORIGIN_KEY,
    UNCLAIMED_SINCE_KEY,
    Ownership,
    is_ours,
)

from testkit import REGION
from testkit.console import OWNERS_POLICY, add_owners_policy, make_console_role
from testkit.invoke import invoke_in_fresh_process
from testkit.local_aws import CREDENTIALS, LocalAws, local_aws
from testkit.stack import SimulatedStack, load_event
from tools.lambda_runtime import Invocation, LocalLambda

DELAY = "2"
#: DmsRegions of the demo: its own region and one more, where the console user works.
OTHER_REGION = "eu-west-1"
SUBNET_GROUP = "console-made-subnets"
#: The sweep's settings for a demo: delete at the next sweep, settle one second.
SWEEP_ENV = {
    "DMS_REGIONS": f"{REGION},{OTHER_REGION}",
    "UNCLAIMED_ROLE_RETENTION_MINUTES": "0",
    "SWEEP_SETTLE_SECONDS": "1",
}


def client(aws: LocalAws, service: str, region: str = REGION, url: str | None = None) -> Any:
    make: Any = boto3.client  # typed per service literal; the service is a str here
    return make(
        service,
        region_name=region,
        endpoint_url=url or aws.moto.url,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def console_made_role(iam: Any) -> None:
    """dms-access-for-endpoint as made in the console, plus an inline policy of its owner's."""
    make_console_role(iam, REDSHIFT_ROLE)
    add_owners_policy(iam, REDSHIFT_ROLE.name)


def console_made_subnet_group(aws: LocalAws) -> None:
    """A replication subnet group made in the DMS console of OTHER_REGION (it relies on
    dms-vpc-role by name). moto's DMS takes any subnet ids; real DMS wants subnets of one
    VPC in two zones, so make them."""
    ec2 = client(aws, "ec2", OTHER_REGION)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((1, f"{OTHER_REGION}a"), (2, f"{OTHER_REGION}b"))
    ]
    client(aws, "dms", OTHER_REGION, aws.dms_api.url).create_replication_subnet_group(
        ReplicationSubnetGroupIdentifier=SUBNET_GROUP,
        ReplicationSubnetGroupDescription="made in the console",
        SubnetIds=subnets,
    )


def describe_roles(iam: Any) -> list[str]:
    lines = [f"  {'role':<26} {'origin':<9} {'claims':<30} {'marks':<36} policies"]
    for role in ROLES:
        try:
            found = iam.get_role(RoleName=role.name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            lines.append(f"  {role.name:<26} absent")
            continue
        tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
        # A claim's value is the StackId: arn:...:stack/<name>/<id>.
        claims = sorted(v.split("/")[1] for v in Ownership.of(tags).claims.values())
        marks = [
            f"{key.rsplit(':', 1)[1]} {tags[key][11:]}"
            for key in (UNCLAIMED_SINCE_KEY, DELETING_SINCE_KEY)
            if key in tags
        ]
        attached = [
            p["PolicyName"]
            for p in iam.list_attached_role_policies(RoleName=role.name)["AttachedPolicies"]
        ]
        inline = [
            f"{p} (inline)" for p in iam.list_role_policies(RoleName=role.name)["PolicyNames"]
        ]
        origin = tags.get(ORIGIN_KEY, "-")
        lines.append(
            f"  {role.name:<26} {origin:<9} {', '.join(claims) or '-':<30} "
            f"{', '.join(marks) or '-':<36} {', '.join(attached + inline)}"
        )
    return lines


def show_answer(body: dict[str, Any]) -> None:
    answer = {k: body[k] for k in ("Status", "Reason", "PhysicalResourceId") if body.get(k)}
    answer.update({k: v for k, v in body.get("Data", {}).items() if v})
    print("CloudFormation received:", json.dumps(answer, indent=2).replace("\n", "\n  "))


def show_summary(summary: Any) -> None:
    if not isinstance(summary, dict):
        print(f"The sweep returned no summary: {summary!r}")
        return
    counts = ", ".join(
        f"{key.replace('_', ' ')} {summary.get(key, 0)}"
        for key in ("stale_claims_released", "roles_marked", "roles_deleted")
    )
    print(
        f"The sweep returned: {counts}, adopted roles untagged "
        f"{summary.get('adopted_roles_untagged', 0)}"
    )
    for role, why in sorted(dict(summary.get("roles_kept") or {}).items()):
        print(f"  kept {role}: {why}")
    if summary.get("failed_lookups"):
        print(f"  failed lookups: {summary['failed_lookups']}")


def show_roles(iam: Any) -> None:
    print("IAM now reports:")
    print("\n".join(describe_roles(iam)))


def report_line(run: Invocation) -> str:
    init = f", init {run.init_duration_ms:.0f} ms" if run.init_duration_ms else ""
    memory = f", max memory {run.max_memory_mb:.0f} MB" if run.max_memory_mb else ""
    return f"Lambda: {run.outcome}, {run.duration_ms:.0f} ms{init}{memory}"


def ending_problems(iam: Any, summary: Any) -> list[str]:
    """What differs from the story's ending, as IAM and the last summary report it."""
    problems = []
    names = {r["RoleName"] for r in iam.list_roles(MaxItems=1000)["Roles"]}
    if CLOUDWATCH_LOGS_ROLE.name in names:
        problems.append(f"{CLOUDWATCH_LOGS_ROLE.name} was not deleted")
    if VPC_ROLE.name not in names:
        problems.append(f"{VPC_ROLE.name} was deleted although DMS uses it")
    kept = dict((summary or {}).get("roles_kept") or {}) if isinstance(summary, dict) else {}
    if "DMS uses it" not in str(kept.get(VPC_ROLE.name, "")):
        problems.append(f"the summary does not say DMS keeps {VPC_ROLE.name}")
    if REDSHIFT_ROLE.name not in names:
        problems.append(f"the console-made {REDSHIFT_ROLE.name} was deleted")
    else:
        tags = iam.list_role_tags(RoleName=REDSHIFT_ROLE.name)["Tags"]
        inline = iam.list_role_policies(RoleName=REDSHIFT_ROLE.name)["PolicyNames"]
        if any(is_ours(t["Key"]) for t in tags):
            problems.append(f"{REDSHIFT_ROLE.name} still carries this project's tags")
        if OWNERS_POLICY not in inline:
            problems.append(f"{REDSHIFT_ROLE.name} lost its owner's inline policy")
    return problems


def play(lambda_runtime: bool = True) -> int:
    started = time.monotonic()
    failures = 0
    with local_aws() as aws, contextlib.ExitStack() as running:
        iam = client(aws, "iam")
        env = {**aws.env(), **SWEEP_ENV}
        runs: list[Invocation] = []
        if lambda_runtime:
            function = running.enter_context(LocalLambda(env=env))

            def cold_invoke(event: dict[str, Any]) -> Any:
                function.recycle()  # custom resources and hourly sweeps usually meet it cold
                run = function.invoke(event)
                runs.append(run)
                return run.payload
        else:

            def cold_invoke(event: dict[str, Any]) -> Any:
                # A fresh interpreter per invocation is cold too; no Lambda REPORT to show.
                return invoke_in_fresh_process(event, env).value

        a = SimulatedStack("dms-pipeline-a", cold_invoke, aws.cfn, api=aws.cfn_api)
        b = SimulatedStack("dms-pipeline-b", cold_invoke, aws.cfn, api=aws.cfn_api)

        def request(title: str, send: Callable[[], dict[str, Any]]) -> None:
            nonlocal failures
            body = send()
            failures += body["Status"] != "SUCCESS"
            print(f"\n== {title}")
            if runs:
                print(report_line(runs[-1]))
            show_answer(body)
            show_roles(iam)

        def sweep(title: str) -> Any:
            nonlocal failures
            summary = cold_invoke(load_event("scheduled"))
            failures += not isinstance(summary, dict)
            print(f"\n== {title}")
            if runs:
                print(report_line(runs[-1]))
            show_summary(summary)
            show_roles(iam)
            return summary

        console_made_role(iam)
        print("\n== 0. dms-access-for-endpoint was made in the console, with an inline policy")
        show_roles(iam)
        request(
            "1. stack dms-pipeline-a: Create (default roles)",
            lambda: a.create(PropagationDelaySeconds=DELAY),
        )
        console_made_subnet_group(aws)
        print(
            f"\n== 2. in the DMS console ({OTHER_REGION}), a colleague makes the replication "
            f"subnet group {SUBNET_GROUP}: DMS finds dms-vpc-role by name, no claim, no stack"
        )
        request(
            "3. stack dms-pipeline-b: Create (default roles + Redshift): shares and adopts",
            lambda: b.create(CreateRedshiftRole="true", PropagationDelaySeconds=DELAY),
        )
        request("4. stack dms-pipeline-a: Delete: its claims go, the roles stay for b", a.delete)
        request(
            "5. stack dms-pipeline-b: Delete: its claims go; every role stays, unclaimed: "
            "requests never delete, the sweep does",
            b.delete,
        )
        sweep(
            "6. the sweep (scheduled event, retention 0): marks the roles this project "
            "created, untags the console role nobody claims"
        )
        summary = sweep("7. the next sweep: deletes what nobody needs, keeps what DMS still uses")
        problems = ending_problems(iam, summary)
        for problem in problems:
            print(f"unexpected: {problem}")
        failures += len(problems)
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s; {failures} step(s) failed")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--without-lambda-runtime",
        action="store_true",
        help="no Python 3.13: run handler/ on this Python instead of the built artifact",
    )
    args = parser.parse_args(argv)
    if args.without_lambda_runtime:
        # One line, before the story: what is missing, what the demo does instead,
        # and that the rest of the project still needs it.
        print(
            f"Python 3.13 not found: the demo runs handler/ on Python "
            f"{platform.python_version()}, not the built artifact under Lambda's runtime; "
            "`make test` and `make build` still need Python 3.13, as Lambda's python3.13 "
            "runtime does (e.g. pyenv install 3.13)."
        )
    return play(lambda_runtime=not args.without_lambda_runtime)


if __name__ == "__main__":
    sys.exit(main())
