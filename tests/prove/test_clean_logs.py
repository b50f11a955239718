"""Clean logs: no line the function wrote, in any invocation of the session, gives away
the pre-signed ResponseURL (its query string, signature, credential, token) or the
function's own AWS credentials.

Lines are captured per invocation by testkit/evidence.py, in-process and in
the worker processes. This check runs last (``evidence_check``) and first makes
invocations of its own, so it means the same when run alone: success, a FAILED
property, an IAM error, a malformed envelope, a Delete, at the default log
level in-process and at ``LogLevel: DEBUG`` (the template allows it) in a
freshly started worker, as a deployed function would run.
"""

from __future__ import annotations

import pytest

from testkit.evidence import EVIDENCE, leaks
from testkit.stack import SimulatedStack
from tests.prove.conftest import worker_environment
from tests.prove.faults import CallKey, Fault, FaultPlan
from tests.prove.workers import Environments
from tests.prove.world import SignedStandIn, World

pytestmark = pytest.mark.evidence_check


def _in_process_invocations(world: World) -> None:
    stack = world.stack("logged")
    stack.create(PropagationDelaySeconds="0", Tags=[{"Key": "team", "Value": "a"}])
    stack.update(PropagationDelaySeconds="nope")
    world.tap.start(FaultPlan(CallKey("GetRole", "dms-vpc-role", 1), Fault.ACCESS_DENIED, True))
    stack.update(PropagationDelaySeconds="0", CreateRedshiftRole="true")
    world.tap.stop()
    broken = stack.request("Update", {}, {})
    broken.pop("StackId")
    world.harness.invoke(broken)
    stack.delete()


def _debug_worker_invocations(iam_url: str, cfn: SignedStandIn) -> list[str]:
    environment = worker_environment(iam_url)

    def not_here(event: object) -> None:
        raise AssertionError("sent through the worker")

    stack = SimulatedStack(name="logged-debug", invoke=not_here, cfn=cfn)
    props = {"PropagationDelaySeconds": "0"}
    events = [stack.request("Create", props)]
    events.append(stack.request("Update", {"CreateVpcRole": "maybe"}, props))
    stack.physical_id = "DmsPrerequisiteRoles-" + "f" * 20
    events.append(stack.request("Delete", props))
    with Environments(1, environment) as environments:
        for event in events:
            environments.run([event], source="clean-logs at DEBUG")
        return environments.output()


def test_no_log_line_gives_away_a_response_url_or_a_credential(
    world: World, iam_url: str, signed_cfn: SignedStandIn
) -> None:
    _in_process_invocations(world)
    outside = _debug_worker_invocations(iam_url, signed_cfn)

    every_secret = tuple(s for inv in EVIDENCE.invocations for s in inv.secrets)
    found = [
        f"{inv.source}: {line[:300]}"
        for inv in EVIDENCE.invocations
        for line in leaks(inv.lines, inv.secrets)
    ]
    found += [f"worker output: {line[:300]}" for line in leaks(outside, every_secret)]
    lines = sum(len(inv.lines) for inv in EVIDENCE.invocations) + len(outside)
    EVIDENCE.count("log lines scanned for secrets", lines)
    EVIDENCE.count("log lines giving a secret away", len(found))
    assert lines > 0 and any(inv.source.endswith("DEBUG") for inv in EVIDENCE.invocations)
    assert not found, "secrets in the log:\n" + "\n".join(found[:10])
