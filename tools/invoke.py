"""``make invoke EVENT=events/create.json``: the stand-in for ``sam local invoke``, without Docker.

Runs the built artifact (``.aws-sam/build``) under the local Lambda runtime
(:mod:`tools.lambda_runtime`: awslambdaric on Python 3.13) against the embedded
local AWS (:func:`testkit.local_aws.local_aws`: moto's IAM with the AWS managed
policies, the HTTPS endpoint that takes CloudFormation's answers, CloudFormation's
stack reads and DMS). Each event file is invoked in turn, on one warm function
and one IAM, so ``EVENT="events/create.json events/update.json
events/delete.json"`` plays a lifecycle.

The function checks every request with CloudFormation before it changes
anything (``VerifyRequests``, default true): it must show this very resource in
the request's operation. So, as CloudFormation would, this plays the operation
around each request: the stack and the resource ``CREATE_IN_PROGRESS`` while a
Create runs, then the status its answer leads to (``CREATE_COMPLETE``, or a
rollback after FAILED; a Delete leaves the stack ``DELETE_COMPLETE``).

For each event it prints the function's logs on stderr (START ... REPORT, as
``sam local invoke`` does) and, on stdout as JSON, the response body
CloudFormation received, or for the sweep's scheduled event
(``events/scheduled.json``) what the function returned: the sweep's summary.
A request's ResponseURL is replaced by the stand-in's. Exit status 0 when
every event got its response.

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

from testkit.cfn_api import CloudFormationApi
from testkit.local_aws import CloudFormationStandIn, local_aws
from tools.lambda_runtime import Invocation, LocalLambda, Outcome

#: What CloudFormation shows the stack as while each request type runs.
_IN_PROGRESS = {
    "Create": "CREATE_IN_PROGRESS",
    "Update": "UPDATE_IN_PROGRESS",
    "Delete": "DELETE_IN_PROGRESS",
}


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
    with local_aws() as aws:
        env: dict[str, str | None] = {**aws.env()}
        if args.sam_local:
            env["AWS_SAM_LOCAL"] = "true"
        with LocalLambda(env=env, timeout_seconds=args.timeout) as function:
            for path, event in events:
                request = is_request(event)
                if request and not args.sam_local:
                    event["ResponseURL"] = aws.cfn.response_url()
                if request:
                    begin_operation(aws.cfn_api, event)
                invocation = function.invoke(event)
                sys.stderr.write(invocation.logs)
                if request:
                    body = _response(invocation, event, aws.cfn, sam_local=args.sam_local)
                    end_operation(aws.cfn_api, event, body)
                else:
                    body = invocation.payload if invocation.succeeded else None
                if body is None:
                    print(f"{path}: no response arrived ({_why(invocation)})", file=sys.stderr)
                    continue
                answered += 1
                print(json.dumps(body, indent=2), flush=True)
    return 0 if answered == len(events) else 1


def is_request(event: Any) -> bool:
    """A CloudFormation custom resource request (it has a RequestType), not a scheduled event."""
    return isinstance(event, dict) and "RequestType" in event


def _operation(event: dict[str, Any]) -> tuple[str, str, str] | None:
    """StackId, LogicalResourceId and RequestType, when the event names all three properly."""
    stack_id, logical_id = event.get("StackId"), event.get("LogicalResourceId")
    request_type = event.get("RequestType")
    if not (isinstance(stack_id, str) and isinstance(logical_id, str) and logical_id):
        return None
    if request_type not in _IN_PROGRESS or ":cloudformation:" not in stack_id:
        return None
    return stack_id, logical_id, str(request_type)


def begin_operation(api: CloudFormationApi, event: dict[str, Any]) -> None:
    """What CloudFormation shows while it waits for this request's answer.

    Custom resource requests reach the function only while their stack runs an
    operation on the resource (toolchain.md, "How CloudFormation and Lambda
    deliver requests"). An event that names no proper stack is left unplayed:
    the function must then refuse it, as it would a forged one.
    """
    found = _operation(event)
    if found is None:
        return
    stack_id, logical_id, request_type = found
    api.put_stack(stack_id, _IN_PROGRESS[request_type])
    api.put_resource(
        stack_id,
        logical_id,
        f"{request_type.upper()}_IN_PROGRESS",
        type=str(event.get("ResourceType") or "Custom::DmsPrerequisiteRoles"),
        physical_id=event.get("PhysicalResourceId"),
    )


def end_operation(api: CloudFormationApi, event: dict[str, Any], body: Any) -> None:
    """The settled statuses the answer leads to (no answer: as FAILED, CloudFormation's view)."""
    found = _operation(event)
    if found is None:
        return
    stack_id, logical_id, request_type = found
    if request_type == "Delete":
        api.delete_stack(stack_id)
        return
    verb = request_type.upper()
    ok = isinstance(body, dict) and body.get("Status") == "SUCCESS"
    physical_id = body.get("PhysicalResourceId") if isinstance(body, dict) else None
    api.put_resource(
        stack_id,
        logical_id,
        f"{verb}_COMPLETE" if ok else f"{verb}_FAILED",
        type=str(event.get("ResourceType") or "Custom::DmsPrerequisiteRoles"),
        physical_id=physical_id,
    )
    if ok:
        api.put_stack(stack_id, f"{verb}_COMPLETE")
    else:
        # A failed Create rolls back (a Delete follows); a failed Update updates back.
        api.put_stack(
            stack_id, "ROLLBACK_IN_PROGRESS" if verb == "CREATE" else "UPDATE_ROLLBACK_IN_PROGRESS"
        )


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
    if invocation.outcome is Outcome.SUCCESS:
        return "invocation succeeded, but no answer reached CloudFormation"
    return f"invocation {invocation.outcome}{detail}"


if __name__ == "__main__":
    sys.exit(main())
