"""The built artifact, run by awslambdaric on Python 3.13, invoked as CloudFormation does.

Every test goes through the path a deployed stack takes: the event from
events/*.json is delivered by the Lambda Runtime API with a deadline, the
function checks it with CloudFormation's stack reads (the stand-in shows the
stack's operation meanwhile), reaches IAM over HTTP (moto_server) and PUTs its
answer over HTTPS to the CloudFormation stand-in. The scheduled event
(events/scheduled.json) runs the sweep, which asks CloudFormation and DMS.
Assertions are on what CloudFormation received (or the sweep returned), on the
roles as IAM reports them and on the invocation as Lambda reports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from dms_prereq.ownership import UNCLAIMED_SINCE_KEY

from testkit.local_aws import SIGNATURE_MARK
from testkit.stack import load_event
from testkit.views import claimants, view
from tests.runtime.samples import sample_properties
from tools.invoke import begin_operation
from tools.lambda_runtime import ROOT, Outcome

pytestmark = pytest.mark.runtime

VPC, LOGS, REDSHIFT = "dms-vpc-role", "dms-cloudwatch-logs-role", "dms-access-for-endpoint"


def test_sample_lifecycle_on_the_built_artifact(local_lambda, stack_on, server_iam, built):
    function = local_lambda()
    stack = stack_on("runtime-lifecycle", function)
    # The samples' properties; a 1-second propagation wait keeps the suite short
    # (test_sam_local_placeholder_... runs the sample's full 10 seconds).
    create = sample_properties("create", PropagationDelaySeconds="1")
    update = sample_properties("update", PropagationDelaySeconds="1")

    body = stack.create(**create)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["CreatedRoles"] == f"{VPC},{LOGS}"
    physical_id = body["PhysicalResourceId"]
    assert claimants(server_iam, VPC) == claimants(server_iam, LOGS) == {"runtime-lifecycle"}

    body = stack.update(**update)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == physical_id
    assert body["Data"]["CreatedRoles"] == REDSHIFT
    assert claimants(server_iam, REDSHIFT) == {"runtime-lifecycle"}

    # Updates only add: the rollback no longer enables the Redshift role, so its
    # attribute is empty, but the claim stays until the resource is deleted.
    body = stack.rollback()
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["RedshiftRoleArn"] == ""
    assert claimants(server_iam, REDSHIFT) == {"runtime-lifecycle"}

    # A Delete releases every claim of the resource and deletes nothing: the sweep does.
    body = stack.delete()
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == physical_id
    for name in (VPC, LOGS, REDSHIFT):
        role = view(server_iam, name)
        assert role is not None and role.claimants == set(), name
        assert len(role.attached) == 1, name

    invocations = function.invocations
    assert [i.outcome for i in invocations] == [Outcome.SUCCESS] * 4
    assert [i.cold_start for i in invocations] == [True, False, False, False]
    assert all(i.max_memory_mb and i.max_memory_mb < built.memory_mb for i in invocations)
    assert all(SIGNATURE_MARK not in i.logs for i in invocations), "logged the ResponseURL"


def test_requests_are_checked_with_cloudformation_before_anything_changes(
    local_lambda, stack_on, cfn_api, server_iam
):
    function = local_lambda()
    stack = stack_on("runtime-forged", function)

    # A Create CloudFormation is not running (forged, or delivered late) changes nothing.
    forged = stack.send(stack.request("Create", sample_properties("create")), as_operation=False)

    assert forged["Status"] == "FAILED"
    assert "not from a stack operation" in forged["Reason"], forged["Reason"]
    assert view(server_iam, VPC) is None
    asked = [r for r in cfn_api.requests() if r.action == "DescribeStackResource"]
    assert [(r.region, r.stack) for r in asked] == [("us-east-1", stack.stack_id)]

    # The same request while CloudFormation shows the Create in progress goes through.
    body = stack.create(**sample_properties("create", PropagationDelaySeconds="0"))
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert claimants(server_iam, VPC) == {"runtime-forged"}


def test_scheduled_event_runs_the_sweep_and_returns_its_summary(
    local_lambda, stack_on, cfn_api, dms_api, server_iam
):
    # Retention 0 and no settle: the second sweep deletes what the first marked.
    function = local_lambda(
        UNCLAIMED_ROLE_RETENTION_MINUTES="0",
        SWEEP_SETTLE_SECONDS="0",
        DMS_REGIONS="us-east-1,eu-west-1",
    )
    live = stack_on("runtime-sweep-live", function)
    gone = stack_on("runtime-sweep-gone", function)
    assert live.create(PropagationDelaySeconds="0")["Status"] == "SUCCESS"
    body = gone.create(CreateRedshiftRole="true", PropagationDelaySeconds="0")
    assert body["Status"] == "SUCCESS", body["Reason"]
    # The stack goes without its Delete ever reaching the function: its claims are stale.
    cfn_api.delete_stack(gone.stack_id)
    scheduled = load_event("scheduled")

    first = function.invoke(scheduled)

    assert first.outcome is Outcome.SUCCESS, first.payload
    summary = first.payload
    assert summary["stale_claims_released"] == 3
    assert summary["roles_marked"] == 1 and summary["roles_deleted"] == 0
    assert summary["roles_kept"][VPC].startswith("claimed")
    assert summary["failed_lookups"] == {}
    assert view(server_iam, REDSHIFT).claimants == set()
    assert UNCLAIMED_SINCE_KEY in view(server_iam, REDSHIFT).tags
    assert claimants(server_iam, VPC) == claimants(server_iam, LOGS) == {"runtime-sweep-live"}

    second = function.invoke(scheduled)

    assert second.outcome is Outcome.SUCCESS, second.payload
    assert second.payload["roles_deleted"] == 1
    assert view(server_iam, REDSHIFT) is None
    assert view(server_iam, VPC).attached == {"AmazonDMSVPCManagementRole"}
    # It asked CloudFormation about each claim's stack, and DMS in both regions.
    assert cfn_api.calls()["DescribeStacks"] >= 2
    asked = {region for region, _ in dms_api.calls()}
    assert asked == {"us-east-1", "eu-west-1"}
    # The metrics, in CloudWatch's embedded metric format, on the function's output.
    assert metric_values(first.logs)["StaleClaimsReleased"] == [3.0]
    assert metric_values(second.logs)["RolesDeleted"] == [1.0]
    assert [i.cold_start for i in function.invocations] == [True, False, False, False]


def metric_values(logs: str) -> dict[str, list[float]]:
    """Values of the DmsPrerequisiteRoles metrics in the embedded metric format lines."""
    found: dict[str, list[float]] = {}
    for line in logs.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            if directive["Namespace"] == "DmsPrerequisiteRoles":
                for metric in directive["Metrics"]:
                    value = record[metric["Name"]]
                    found.setdefault(metric["Name"], []).extend(
                        value if isinstance(value, list) else [value]
                    )
    return found


def test_warm_invokes_after_a_real_propagation_wait_meet_only_the_invoke_limit(
    local_lambda, stack_on, server_iam
):
    # Lambda's init limit covers init only. Set it below the Create's real
    # propagation wait: the warm Update and Delete then start later than that
    # limit after the process did, and must still run (make invoke's lifecycle).
    init_limit, wait = 4, 5
    function = local_lambda(init_timeout_seconds=init_limit)
    stack = stack_on("runtime-warm-after-wait", function)

    created = stack.create(**sample_properties("create", PropagationDelaySeconds=str(wait)))
    updated = stack.update(**sample_properties("update", PropagationDelaySeconds="0"))
    deleted = stack.delete()

    assert [b["Status"] for b in (created, updated, deleted)] == ["SUCCESS"] * 3, [
        b["Reason"] for b in (created, updated, deleted)
    ]
    create, update, delete = function.invocations
    assert [i.outcome for i in function.invocations] == [Outcome.SUCCESS] * 3
    assert [i.cold_start for i in function.invocations] == [True, False, False]
    # The init limit held the init phase alone ...
    assert create.init_duration_ms is not None and create.init_duration_ms < init_limit * 1000
    # ... the Create's real wait ran past it, within the invoke limit (the Timeout) ...
    assert wait * 1000 <= create.duration_ms < function.timeout_seconds * 1000
    # ... and the warm invokes came later than the init limit after the process started.
    assert update.delivered_at is not None and create.delivered_at is not None
    assert update.delivered_at - create.delivered_at > init_limit
    assert update.init_duration_ms is None and delete.init_duration_ms is None


def test_redshift_sample_creates_all_three_roles(local_lambda, stack_on, server_iam):
    function = local_lambda()
    stack = stack_on("runtime-redshift", function)

    body = stack.create(**sample_properties("create-redshift", PropagationDelaySeconds="0"))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert view(server_iam, REDSHIFT).attached == {"AmazonDMSRedshiftS3Role"}
    assert stack.delete()["Status"] == "SUCCESS"


def test_bad_properties_answer_failed_naming_the_property(local_lambda, stack_on, server_iam):
    function = local_lambda()
    stack = stack_on("runtime-invalid", function)

    body = stack.create(**sample_properties("create-invalid"))

    assert body["Status"] == "FAILED"
    assert "CreateVpcRole" in body["Reason"] and "'yes'" in body["Reason"]
    assert body["PhysicalResourceId"]
    assert view(server_iam, VPC) is None
    # A FAILED answer is the handler's normal return, not a Lambda function error.
    assert function.invocations[-1].outcome is Outcome.SUCCESS
    assert "Traceback" not in body["Reason"]


def test_init_failure_still_answers_failed(local_lambda, stack_on, server_iam):
    # The IAM client is built at init; an impossible region makes that fail.
    function = local_lambda(AWS_REGION="not_a_region", AWS_DEFAULT_REGION="not_a_region")
    stack = stack_on("runtime-init-failure", function)

    body = stack.create(**sample_properties("create"))

    assert body["Status"] == "FAILED"
    assert "not_a_region" in body["Reason"]
    assert body["PhysicalResourceId"], "every answer carries the resource's physical id"
    invocation = function.invocations[-1]
    assert invocation.outcome is Outcome.SUCCESS
    assert invocation.duration_ms < 2000
    assert view(server_iam, VPC) is None


def test_no_region_configured_still_answers_failed(local_lambda, stack_on, server_iam):
    function = local_lambda(AWS_REGION=None, AWS_DEFAULT_REGION=None)
    stack = stack_on("runtime-no-region", function)

    body = stack.create(**sample_properties("create"))

    assert body["Status"] == "FAILED"
    assert "region" in body["Reason"]
    assert function.invocations[-1].duration_ms < 5000


def test_deadline_shorter_than_propagation_delay_answers_before_it(
    local_lambda, stack_on, cfn, cfn_api, server_iam
):
    function = local_lambda(timeout_seconds=6)
    stack = stack_on("runtime-short-deadline", function)

    event = stack.request("Create", sample_properties("create", PropagationDelaySeconds="10"))
    begin_operation(cfn_api, event)
    invocation = function.invoke(event)

    key = cfn.key_of(event["ResponseURL"])
    (body,) = cfn.bodies(key)
    (arrived,) = cfn.arrivals(key)
    # The wait is cut to the time left (the contract), so the roles are there and
    # the answer arrives while the invocation still runs.
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert invocation.outcome is Outcome.SUCCESS
    assert arrived < invocation.deadline_at - 0.5
    assert "wait cut to fit the time left" in invocation.logs
    assert view(server_iam, VPC) is not None


def test_timed_out_failed_arrives_before_the_deadline(
    local_lambda, stack_on, cfn, cfn_api, black_hole
):
    # IAM that never answers: only the deadline can end this invocation.
    function = local_lambda(timeout_seconds=3, AWS_ENDPOINT_URL_IAM=black_hole)
    stack = stack_on("runtime-timeout", function)

    event = stack.request("Create", sample_properties("create"))
    begin_operation(cfn_api, event)
    invocation = function.invoke(event)

    key = cfn.key_of(event["ResponseURL"])
    (body,) = cfn.bodies(key)
    (arrived,) = cfn.arrivals(key)
    assert body["Status"] == "FAILED"
    assert "ran out of time" in body["Reason"]
    assert body["PhysicalResourceId"], "every answer carries the resource's physical id"
    assert invocation.deadline_at - 1.0 < arrived < invocation.deadline_at
    # Lambda then ends the sandbox; the next request is a cold start.
    assert invocation.outcome is Outcome.TIMEOUT
    assert "Task timed out after 3.00 seconds" in invocation.logs
    assert function.invoke({"RequestType": "Delete"}).cold_start


def test_sam_local_placeholder_response_url_finishes_promptly_and_prints_the_answer():
    """``make invoke INVOKE_FLAGS=--sam-local``: as ``sam local invoke -e events/create.json``."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tools.invoke", "--sam-local", "events/create.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["RequestId"] == load_event("create")["RequestId"]
    assert "REPORT RequestId:" in done.stderr
    # The sample waits its 10-second PropagationDelaySeconds, then one quick try
    # at the placeholder URL, instead of retrying it until the 360 s timeout.
    assert elapsed < 30


def test_invoke_prints_logs_and_the_answer_cloudformation_received():
    """``make invoke EVENT=...``: logs on stderr, CloudFormation's answer as JSON on stdout;
    for the scheduled event, what the function returned (the sweep's summary)."""
    events = ["events/create-invalid.json", "events/delete.json", "events/scheduled.json"]
    done = subprocess.run(
        [sys.executable, "-m", "tools.invoke", *events],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    decoder = json.JSONDecoder()
    invalid, end = decoder.raw_decode(done.stdout)
    rest = done.stdout[end:].lstrip()
    delete, end = decoder.raw_decode(rest)
    summary, _ = decoder.raw_decode(rest[end:].lstrip())
    assert invalid["Status"] == "FAILED" and "CreateVpcRole" in invalid["Reason"]
    assert delete["Status"] == "SUCCESS"
    assert summary["apply"] is True and summary["roles_deleted"] == 0
    assert summary["failed_lookups"] == {}
    assert done.stderr.count("REPORT RequestId:") == 3
    assert "Init Duration" in done.stderr


def test_invoke_plays_the_documented_lifecycle_in_one_warm_runtime():
    """``make invoke EVENT="events/create.json events/update.json events/delete.json"``.

    The samples' real 10-second propagation waits put the warm Update and Delete
    past Lambda's 10-second init limit after the process started: only the
    Timeout may hold them.
    """
    events = ["events/create.json", "events/update.json", "events/delete.json"]
    done = subprocess.run(
        [sys.executable, "-m", "tools.invoke", *events],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    decoder, answers, rest = json.JSONDecoder(), [], done.stdout
    while rest.strip():
        answer, end = decoder.raw_decode(rest.lstrip())
        answers.append(answer)
        rest = rest.lstrip()[end:]
    assert [a["Status"] for a in answers] == ["SUCCESS"] * 3, [a.get("Reason") for a in answers]
    reports = [line for line in done.stderr.splitlines() if line.startswith("REPORT RequestId:")]
    assert len(reports) == 3
    assert ["Init Duration" in line for line in reports] == [True, False, False], "one warm runtime"
    assert "InitTimeout" not in done.stderr
