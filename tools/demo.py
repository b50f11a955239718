"""``make demo``: two stacks share the DMS roles on a local IAM, through the real handler.

The story, on a moto_server (IAM with AWS managed policies) and an HTTPS
CloudFormation stand-in, both on 127.0.0.1:

0. Somebody made ``dms-access-for-endpoint`` in the console long ago, and gave
   it an inline policy of their own.
1. Stack ``dms-pipeline-a`` declares the resource: the two default roles are created.
2. Stack ``dms-pipeline-b`` declares it too, with Redshift: it shares the two
   roles and adopts the console one.
3. ``dms-pipeline-a`` is deleted: every role stays (b still claims them).
4. ``dms-pipeline-b`` is deleted: the roles this project created go; the
   console role stays, with its policies, minus this project's tags.

Each request runs the *built artifact* (``make build``) under the real Lambda
runtime interface client on Python 3.13 (tools/lambda_runtime.py), cold, as
custom resources usually run. After each step the demo prints what
CloudFormation received, the invocation's REPORT figures, and the roles as IAM
reports them. Everything it starts is stopped before it exits.

``--without-lambda-runtime`` (what ``make demo`` runs where no Python 3.13 is
found) plays the same story on the Python running the demo (3.11 or newer):
each request runs ``handler/``'s source in a fresh interpreter, still cold, and
one line says so. ``make test`` and ``make build`` still need Python 3.13.
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
from dms_prereq.catalogue import REDSHIFT_ROLE, ROLES
from dms_prereq.iam import CLAIM_KEY_PREFIX, ORIGIN_KEY

from testkit.console import add_owners_policy, make_console_role
from testkit.invoke import run_in_fresh_process
from testkit.local_aws import local_aws
from testkit.stack import SimulatedStack
from tools.lambda_runtime import Invocation, LocalLambda

DELAY = "2"


def console_made_role(iam: Any) -> None:
    """dms-access-for-endpoint as made in the console, plus an inline policy of its owner's."""
    make_console_role(iam, REDSHIFT_ROLE)
    add_owners_policy(iam, REDSHIFT_ROLE.name)


def describe_roles(iam: Any) -> list[str]:
    lines = [f"  {'role':<26} {'state':<9} {'claims (stack/logical id)':<50} policies"]
    for role in ROLES:
        try:
            iam.get_role(RoleName=role.name)
        except iam.exceptions.NoSuchEntityException:
            lines.append(f"  {role.name:<26} {'absent':<9}")
            continue
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role.name)["Tags"]}
        claims = sorted(
            "{}/{}".format(v.split()[0].split("/")[1], v.split()[1])
            for k, v in tags.items()
            if k.startswith(CLAIM_KEY_PREFIX)
        )
        attached = [
            p["PolicyName"]
            for p in iam.list_attached_role_policies(RoleName=role.name)["AttachedPolicies"]
        ]
        inline = [
            f"{p} (inline)" for p in iam.list_role_policies(RoleName=role.name)["PolicyNames"]
        ]
        state = tags.get(ORIGIN_KEY, "foreign")
        policies = ", ".join(attached + inline)
        lines.append(f"  {role.name:<26} {state:<9} {', '.join(claims) or '-':<50} {policies}")
    return lines


def show(step: str, body: dict[str, Any] | None, iam: Any, run: Invocation | None = None) -> None:
    print(f"\n== {step}")
    if run is not None:
        init = f", init {run.init_duration_ms:.0f} ms" if run.init_duration_ms else ""
        memory = f", max memory {run.max_memory_mb:.0f} MB" if run.max_memory_mb else ""
        print(f"Lambda: {run.outcome}, {run.duration_ms:.0f} ms{init}{memory}")
    if body is not None:
        answer = {k: body[k] for k in ("Status", "Reason", "PhysicalResourceId") if body.get(k)}
        answer.update({k: v for k, v in body.get("Data", {}).items() if v})
        print("CloudFormation received:", json.dumps(answer, indent=2).replace("\n", "\n  "))
    print("IAM now reports:")
    print("\n".join(describe_roles(iam)))


def play(lambda_runtime: bool = True) -> int:
    started = time.monotonic()
    with local_aws() as (moto, cfn), contextlib.ExitStack() as running:
        iam = boto3.client("iam", endpoint_url=moto.url, region_name="us-east-1", **_creds())
        env = {**moto.env(), **cfn.env()}
        runs: list[Invocation] = []
        if lambda_runtime:
            function = running.enter_context(LocalLambda(env=env))

            def cold_invoke(event: dict[str, Any]) -> None:
                function.recycle()  # custom resources usually meet a cold function
                runs.append(function.invoke(event))
        else:

            def cold_invoke(event: dict[str, Any]) -> None:
                # A fresh interpreter per request is cold too; no Lambda REPORT to show.
                run_in_fresh_process(event, env)

        a = SimulatedStack("dms-pipeline-a", cold_invoke, cfn)
        b = SimulatedStack("dms-pipeline-b", cold_invoke, cfn)

        console_made_role(iam)
        show("0. dms-access-for-endpoint was made in the console, with an inline policy", None, iam)
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            (
                "1. stack dms-pipeline-a: Create (default roles)",
                lambda: a.create(PropagationDelaySeconds=DELAY),
            ),
            (
                "2. stack dms-pipeline-b: Create (default roles + Redshift): shares and adopts",
                lambda: b.create(CreateRedshiftRole="true", PropagationDelaySeconds=DELAY),
            ),
            ("3. stack dms-pipeline-a: Delete: the roles stay for b", a.delete),
            ("4. stack dms-pipeline-b: Delete: created roles go, the console role stays", b.delete),
        ]
        failures = 0
        for title, step in steps:
            body = step()
            failures += body["Status"] != "SUCCESS"
            show(title, body, iam, runs[-1] if runs else None)
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s; {failures} step(s) failed")
    return 1 if failures else 0


def _creds() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


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
