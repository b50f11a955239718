"""Requests are checked with CloudFormation before anything changes (issue 11).

Custom resource requests reach the function only while the stack runs an
operation on the resource (toolchain.md, "How CloudFormation and Lambda deliver
requests"), so with ``VerifyRequests`` (the default) DescribeStackResource must
show this very resource ``<RequestType>_IN_PROGRESS``. A request from outside
any operation, forged by whoever may invoke the function or delivered late
(``send(..., as_operation=False)``), changes nothing: a Create or Update answers
FAILED, a Delete SUCCESS releasing nothing (a Delete never fails, or the stack
could not be deleted; the sweep releases what is really stale).
"""

from __future__ import annotations

import threading
from typing import Any

from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE
from dms_prereq.ownership import UNCLAIMED_SINCE_KEY

from testkit.invoke import InProcessFunction, invoke_in_fresh_process
from testkit.stack import SimulatedStack, load_event
from testkit.views import claimants, view
from tools.invoke import begin_operation

NO_WAIT = {"PropagationDelaySeconds": "0"}
DEFAULT_ROLES = (VPC_ROLE, CLOUDWATCH_LOGS_ROLE)


def snapshot(iam: Any) -> dict[str, Any]:
    return {role.name: view(iam, role.name) for role in ROLES}


def test_a_forged_create_answers_failed_and_makes_nothing(stack, iam):
    forger = stack("never-deployed")

    body = forger.send(forger.request("Create", NO_WAIT), as_operation=False)

    assert body["Status"] == "FAILED"
    assert "not from a stack operation" in body["Reason"]
    assert all(role is None for role in snapshot(iam).values())


def test_a_forged_update_answers_failed_and_changes_nothing(stack, iam):
    a = stack("settled")
    a.create(**NO_WAIT)
    before = snapshot(iam)

    forged = a.request("Update", {"CreateRedshiftRole": "true", **NO_WAIT}, a.properties)
    body = a.send(forged, as_operation=False)

    assert body["Status"] == "FAILED"
    assert "CREATE_COMPLETE, not UPDATE_IN_PROGRESS" in body["Reason"]
    assert snapshot(iam) == before
    assert view(iam, REDSHIFT_ROLE.name) is None


def test_a_forged_delete_answers_success_and_releases_nothing(stack, iam):
    """Without the check, anyone allowed to invoke the function could release every
    stack's claims, and the sweep would then delete roles live stacks rely on."""
    victim = stack("victim")
    victim.create(**NO_WAIT)
    before = snapshot(iam)

    body = victim.send(victim.request("Delete", NO_WAIT), as_operation=False)

    assert body["Status"] == "SUCCESS"
    assert snapshot(iam) == before
    for role in DEFAULT_ROLES:
        assert claimants(iam, role.name) == {"victim"}


def test_a_create_delivered_after_its_stack_is_gone_claims_nothing(stack, iam):
    """Lambda may deliver an event late (throttled events are kept up to 6 hours): a
    Create for a stack that was deleted meanwhile must not claim for it."""
    a = stack("short-lived")
    late = a.request("Create", NO_WAIT)
    a.create(**NO_WAIT)
    a.delete()
    before = snapshot(iam)

    body = a.send(late, as_operation=False)

    assert body["Status"] == "FAILED"
    assert "DELETE_COMPLETE" in body["Reason"]
    assert snapshot(iam) == before


def test_with_verify_requests_off_requests_are_taken_as_they_come(stack, iam, monkeypatch):
    """VerifyRequests=false (for a deployment whose role may not call CloudFormation):
    the forged requests above go through, as in version 1."""
    monkeypatch.setenv("VERIFY_REQUESTS", "false")
    a = stack("unchecked")

    created = a.send(a.request("Create", NO_WAIT), as_operation=False)
    assert created["Status"] == "SUCCESS", created["Reason"]
    for role in DEFAULT_ROLES:
        assert claimants(iam, role.name) == {"unchecked"}

    deleted = a.send(a.request("Delete", NO_WAIT), as_operation=False)
    assert deleted["Status"] == "SUCCESS"
    for role in DEFAULT_ROLES:
        assert claimants(iam, role.name) == set()


def test_a_check_refused_access_names_the_permission(stack, iam, cfn_api):
    """DescribeStackResource denied: the Create cannot be checked, so it answers FAILED
    naming the permission to grant (or the parameter to turn the check off); a Delete
    answers SUCCESS and releases nothing."""
    a = stack("kept")
    a.create(**NO_WAIT)
    before = snapshot(iam)
    cfn_api.deny("DescribeStackResource")

    refused = stack("unchecked").create(**NO_WAIT)
    deleted = a.delete()

    assert refused["Status"] == "FAILED"
    assert "cloudformation:DescribeStackResource" in refused["Reason"]
    assert "VerifyRequests" in refused["Reason"]
    assert deleted["Status"] == "SUCCESS"
    assert snapshot(iam) == before


def test_a_delete_that_overtakes_its_create(
    server_iam, moto_server, cfn, cfn_api, sweep_deployment, sleeps
):
    """A stack whose create fails elsewhere while this resource's Create still runs marks
    it "creation cancelled" and sends a Delete with an id CloudFormation made up, which may
    arrive before the Create has written anything (cloudformation-coverage-roadmap #1814).

    What is observable: both requests are answered SUCCESS; the Delete (verified: the
    resource is DELETE_IN_PROGRESS) released what there was, but the Create, which passed
    its own check before the cancellation, then claimed the roles for a resource that is
    gone. No request can prevent that; the next sweep finds the resource DELETE_COMPLETE in
    a ROLLBACK_COMPLETE stack and releases the claims, leaving the roles unclaimed.

    The Delete runs in a fresh process (as a second Lambda execution environment would)
    while the Create waits in this one at its first CreateRole.
    """
    cfn_api.reset()
    function = InProcessFunction(server_iam, sleep=sleeps.append)
    a = SimulatedStack(name="overtaken", invoke=function, cfn=cfn, api=cfn_api)
    create = a.request("Create", NO_WAIT)
    delete = a.request("Delete", NO_WAIT)
    delete["PhysicalResourceId"] = "overtaken-DmsRoles-4XN2Q7PBW3K1"
    answers: dict[str, dict[str, Any]] = {}
    turn = threading.Lock()

    def delete_first(**_: Any) -> None:
        with turn:  # the Create's role threads wait here until the Delete has its answer
            if "Delete" in answers:
                return
            cfn_api.put_stack(a.stack_id, "ROLLBACK_IN_PROGRESS")
            cfn_api.put_resource(a.stack_id, a.logical_id, "DELETE_IN_PROGRESS")
            invoke_in_fresh_process(delete, {**moto_server.env(), **cfn.env()})
            answers["Delete"] = cfn.wait_for(cfn.key_of(delete["ResponseURL"]))
            cfn_api.put_resource(a.stack_id, a.logical_id, "DELETE_COMPLETE")
            cfn_api.put_stack(a.stack_id, "ROLLBACK_COMPLETE")

    server_iam.meta.events.register("before-call.iam.CreateRole", delete_first)
    begin_operation(cfn_api, create)
    answers["Create"] = a.send(create, as_operation=False)  # CloudFormation ignores it now

    assert answers["Delete"]["Status"] == "SUCCESS"
    assert answers["Delete"]["PhysicalResourceId"] == delete["PhysicalResourceId"]
    assert answers["Create"]["Status"] == "SUCCESS", answers["Create"]["Reason"]
    for role in DEFAULT_ROLES:
        assert claimants(server_iam, role.name) == {"overtaken"}

    summary = function(load_event("scheduled"))

    assert summary["stale_claims_released"] == len(DEFAULT_ROLES)
    for role in DEFAULT_ROLES:
        left = view(server_iam, role.name)
        assert left.claims == frozenset()
        assert UNCLAIMED_SINCE_KEY in left.tags
        assert left.attached == {role.managed_policy}
