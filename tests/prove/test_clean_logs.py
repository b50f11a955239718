"""Clean logs: no line the function wrote, in any invocation of the session, gives away
the pre-signed ResponseURL (its query string, signature, credential, token) or the
function's own AWS credentials.

Lines are captured per invocation by testkit/evidence.py, in-process and in
the worker processes. This check runs last (``evidence_check``) and first makes
invocations of its own, so it means the same when run alone: success, a FAILED
property, an IAM error, a malformed envelope, requests the request check refuses
(no operation in progress, a stack of another account), a Delete, and sweeps that
release a stale claim, cannot read a stack or a DMS region, and delete a role; at
the default log level in-process and at ``LogLevel: DEBUG`` (the template allows
it) in a freshly started worker, as a deployed function would run.
"""

from __future__ import annotations

import time

import pytest

from testkit import REGION
from testkit.dms_api import DmsApi
from testkit.evidence import EVIDENCE, leaks
from testkit.stack import SimulatedStack
from testkit.unkind_iam import UnkindIam
from tests.prove.conftest import worker_environment
from tests.prove.faults import CallKey, Fault, FaultPlan
from tests.prove.workers import Environments
from tests.prove.world import DELTA, FIGURES, SCHEDULED_EVENT, SWEEPING, SignedStandIn, World

pytestmark = pytest.mark.evidence_check

OTHER_REGION = "eu-west-1"
OTHER_ACCOUNT = "999999999999"


def _in_process_requests(world: World) -> list[str]:
    stack = world.stack("logged")
    stack.create(PropagationDelaySeconds="0")
    stack.update(PropagationDelaySeconds="nope")
    world.tap.start(FaultPlan(CallKey("GetRole", "dms-vpc-role", 1), Fault.ACCESS_DENIED, True))
    stack.update(PropagationDelaySeconds="0", CreateRedshiftRole="true")
    world.tap.stop()
    broken = stack.request("Update", {}, {})
    broken.pop("StackId")
    world.harness.invoke(broken)
    # Refused by the request check: no operation shows it, or another account's stack.
    world.harness.invoke(world.stack("forged").request("Create", {}))
    world.harness.invoke(world.stack("theirs", account=OTHER_ACCOUNT).request("Create", {}))
    stack.delete()
    world.step(7)
    return world.check("the requests")


def _in_process_sweeps(world: World, dms_api: DmsApi) -> list[str]:
    """Sweeps that release a stale claim, meet a stack CloudFormation will not describe
    and a region whose DMS refuses, then delete a role nobody needs."""
    assert world.cfn_api is not None
    gone = world.stack("gone")
    gone.create(CreateRedshiftRole="true", PropagationDelaySeconds="0")
    world.cfn_api.delete_stack(gone.stack_id)  # deleted without its Delete reaching us
    world.stacks.pop("gone")  # so no claim of it is live any more
    hidden = world.stack("hidden")
    hidden.create(PropagationDelaySeconds="0")
    world.cfn_api.deny("DescribeStacks", hidden.stack_id)
    dms_api.fail_region(OTHER_REGION)
    problems = []
    try:
        world.harness.sweep()
        problems += world.check("the first sweep")
        time.sleep(DELTA)
        world.harness.sweep()  # dms-access-for-endpoint stays: DMS cannot be asked everywhere
        problems += world.check("the second sweep")
        dms_api.heal_region(OTHER_REGION)
        time.sleep(DELTA)
        world.harness.sweep()  # now it is deleted
        problems += world.check("the third sweep")
    finally:
        dms_api.heal_region(OTHER_REGION)
        world.cfn_api.allow("DescribeStacks", hidden.stack_id)
    world.step(3)
    return problems


def _debug_worker_invocations(world: World, iam_url: str, cfn: SignedStandIn) -> list[str]:
    environment = worker_environment(iam_url)

    def not_here(event: object) -> None:
        raise AssertionError("sent through the worker")

    stack = SimulatedStack(name="logged-debug", invoke=not_here, cfn=cfn)
    props = {"PropagationDelaySeconds": "0"}
    plays = [
        ("Create", stack.request("Create", props)),
        ("Update", stack.request("Update", {"CreateVpcRole": "maybe"}, props)),
    ]
    stack.physical_id = "DmsPrerequisiteRoles-" + "f" * 20
    plays.append(("Delete", stack.request("Delete", props)))
    with Environments(1, environment) as environments:
        for request_type, event in plays:
            world.show_in_progress(stack, request_type)
            environments.run([event], source="clean-logs at DEBUG")
        environments.run([dict(SCHEDULED_EVENT)], source="clean-logs sweep at DEBUG")
        return environments.output()


def test_no_log_line_gives_away_a_response_url_or_a_credential(
    world: World, unkind_server: UnkindIam, signed_cfn: SignedStandIn, dms_api: DmsApi
) -> None:
    # The sweeps delete: a settle time they can wait (inherited by the worker too).
    world.deploy(**SWEEPING, DMS_REGIONS=f"{REGION},{OTHER_REGION}")
    problems = _in_process_requests(world)
    problems += _in_process_sweeps(world, dms_api)
    outside = _debug_worker_invocations(world, unkind_server.url, signed_cfn)

    every_secret = tuple(s for inv in EVIDENCE.invocations for s in inv.secrets)
    found = [
        f"{inv.source}: {line[:300]}"
        for inv in EVIDENCE.invocations
        for line in leaks(inv.lines, inv.secrets)
    ]
    found += [f"worker output: {line[:300]}" for line in leaks(outside, every_secret)]
    lines = sum(len(inv.lines) for inv in EVIDENCE.invocations) + len(outside)
    sweep_lines = [
        line
        for inv in EVIDENCE.invocations
        for line in inv.lines
        if '"dms_prereq.sweep"' in line or '"dms_prereq.stacks"' in line
    ]
    FIGURES.add(world.suite, "log lines scanned for secrets", lines)
    FIGURES.add(world.suite, "of them written by the sweep", len(sweep_lines))
    FIGURES.add(world.suite, "log lines giving a secret away", len(found))
    assert lines > 0 and any(inv.source.endswith("DEBUG") for inv in EVIDENCE.invocations)
    assert any("deleted role" in line for line in sweep_lines), "no sweep deleted a role"
    assert any("stack not readable" in line for line in sweep_lines)
    worker_sweeps = [i for i in EVIDENCE.invocations if i.source == "clean-logs sweep at DEBUG"]
    assert any("sweep finished" in line for i in worker_sweeps for line in i.lines)
    assert not found, "secrets in the log:\n" + "\n".join(found[:10])
    assert not problems, problems
