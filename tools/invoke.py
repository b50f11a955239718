"""``make invoke EVENT=events/create.json``: the stand-in for ``sam local invoke``, without Docker.

Runs the built artifact (``.aws-sam/build``) under the local Lambda runtime
(:mod:`tools.lambda_runtime`: awslambdaric on Python 3.13) against the embedded
local AWS (moto's IAM with the AWS managed policies, and the HTTPS
CloudFormation stand-in). Each event file is invoked in turn, on one warm
function and one IAM, so ``EVENT="events/create.json events/update.json
events/delete.json"`` plays a lifecycle.

For each event it prints the function's logs on stderr (START ... REPORT, as
``sam local invoke`` does) and the response body CloudFormation received, as
JSON, on stdout. The event's ResponseURL is replaced by the stand-in's. Exit
status 0 when every event got its response.

``--sam-local`` does to the function what ``sam local invoke`` does: it sets
AWS_SAM_LOCAL=true and keeps the event's placeholder ResponseURL; the function
then prints the response it would have sent, and that is what is shown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from testkit.local_aws import CloudFormationStandIn, local_aws
from tools.lambda_runtime import Invocation, LocalLambda


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__.split("\n")[0])
    parser.add_argument("events", nargs="+", type=Path, help="event files, e.g. events/create.json")
    parser.add_argument(
        "--sam-local",
        action="store_true",
        help="as sam local invoke: AWS_SAM_LOCAL=true and the event's own ResponseURL",
    )
    parser.add_argument("--timeout", type=float, help="seconds (default: the template's Timeout)")
    args = parser.parse_args(argv)

    events = [(path, json.loads(path.read_text())) for path in args.events]
    answered = 0
    with local_aws() as (moto, cfn):
        env: dict[str, str | None] = {**moto.env(), **cfn.env()}
        if args.sam_local:
            env["AWS_SAM_LOCAL"] = "true"
        with LocalLambda(env=env, timeout_seconds=args.timeout) as function:
            for path, event in events:
                if not args.sam_local:
                    event["ResponseURL"] = cfn.response_url()
                invocation = function.invoke(event)
                sys.stderr.write(invocation.logs)
                body = _response(invocation, event, cfn, sam_local=args.sam_local)
                if body is None:
                    print(f"{path}: no response arrived ({_why(invocation)})", file=sys.stderr)
                    continue
                answered += 1
                print(json.dumps(body, indent=2), flush=True)
    return 0 if answered == len(events) else 1


def _response(
    invocation: Invocation, event: dict[str, Any], cfn: CloudFormationStandIn, *, sam_local: bool
) -> dict[str, Any] | None:
    """What CloudFormation received, or (--sam-local) what the function printed it would send."""
    if not sam_local:
        found = cfn.bodies(cfn.key_of(event["ResponseURL"]))
        return found[0] if found else None
    return printed_response(invocation.logs, event.get("RequestId"))


def printed_response(logs: str, request_id: object) -> dict[str, Any] | None:
    """The response body the function printed under AWS_SAM_LOCAL, found in its logs."""
    for line in logs.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        is_answer = isinstance(record, dict) and "Status" in record
        if is_answer and record.get("RequestId") == request_id:
            return dict(record)
    return None


def _why(invocation: Invocation) -> str:
    detail = ""
    if isinstance(invocation.payload, dict):
        detail = f": {invocation.payload.get('errorType')} {invocation.payload.get('errorMessage')}"
    return f"invocation {invocation.outcome}{detail}"


if __name__ == "__main__":
    sys.exit(main())
