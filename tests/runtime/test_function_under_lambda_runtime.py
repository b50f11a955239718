"""The built artifact, run by awslambdaric on Python 3.13, invoked as CloudFormation does.

Every test goes through the path a deployed stack takes: the event from
events/*.json is delivered by the Lambda Runtime API with a deadline, the
function reaches IAM over HTTP (moto_server) and PUTs its answer over HTTPS
to the CloudFormation stand-in. Assertions are on what CloudFormation
received, on the roles as IAM reports them and on the invocation as Lambda
reports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from testkit.local_aws import SIGNATURE_MARK
from testkit.stack import SimulatedStack, load_event
from testkit.views import claimants, view
from tests.runtime.samples import sample_properties
from tools.lambda_runtime import ROOT, Outcome

pytestmark = pytest.mark.runtime

VPC, LOGS, REDSHIFT = "dms-vpc-role", "dms-cloudwatch-logs-role", "dms-access-for-endpoint"


def test_sample_lifecycle_on_the_built_artifact(local_lambda, cfn, server_iam, built):
    function = local_lambda()
    stack = SimulatedStack("runtime-lifecycle", invoke=function.invoke, cfn=cfn)
    # The samples' properties; a 1-second propagation wait keeps the suite short
    # (test_sam_local_placeholder_... runs the sample's full 10 seconds).
    create = sample_properties("create", PropagationDelaySeconds="1")
    update = sample_properties("update", PropagationDelaySeconds="1")

    body = stack.create(**create)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["CreatedRoles"] == f"{VPC},{LOGS}"
    physical_id = body["PhysicalResourceId"]
    assert view(server_iam, VPC).tags["team"] == "data-platform"

    body = stack.update(**update)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == physical_id
    assert body["Data"]["CreatedRoles"] == REDSHIFT
    assert view(server_iam, VPC).tags["team"] == "analytics"
    assert claimants(server_iam, REDSHIFT) == {"runtime-lifecycle"}

    body = stack.rollback()
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert view(server_iam, REDSHIFT) is None
    assert view(server_iam, VPC).tags["team"] == "data-platform"

    body = stack.delete()
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == physical_id
    assert all(view(server_iam, name) is None for name in (VPC, LOGS, REDSHIFT))

    invocations = function.invocations
    assert [i.outcome for i in invocations] == [Outcome.SUCCESS] * 4
    assert [i.cold_start for i in invocations] == [True, False, False, False]
    assert all(i.max_memory_mb and i.max_memory_mb < built.memory_mb for i in invocations)
    assert all(SIGNATURE_MARK not in i.logs for i in invocations), "logged the ResponseURL"


def test_warm_invokes_after_a_real_propagation_wait_meet_only_the_invoke_limit(
    local_lambda, cfn, server_iam
):
    # Lambda's init limit covers init only. Set it below the Create's real
    # propagation wait: the warm Update and Delete then start later than that
    # limit after the process did, and must still run (make invoke's lifecycle).
    init_limit, wait = 4, 5
    function = local_lambda(init_timeout_seconds=init_limit)
    stack = SimulatedStack("runtime-warm-after-wait", invoke=function.invoke, cfn=cfn)

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


def test_redshift_sample_creates_all_three_roles(local_lambda, cfn, server_iam):
    function = local_lambda()
    stack = SimulatedStack("runtime-redshift", invoke=function.invoke, cfn=cfn)

    body = stack.create(**sample_properties("create-redshift", PropagationDelaySeconds="0"))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert view(server_iam, REDSHIFT).attached == {"AmazonDMSRedshiftS3Role"}
    assert stack.delete()["Status"] == "SUCCESS"


def test_bad_properties_answer_failed_naming_the_property(local_lambda, cfn, server_iam):
    function = local_lambda()
    stack = SimulatedStack("runtime-invalid", invoke=function.invoke, cfn=cfn)

    body = stack.create(**sample_properties("create-invalid"))

    assert body["Status"] == "FAILED"
    assert "CreateVpcRole" in body["Reason"] and "'yes'" in body["Reason"]
    assert body["PhysicalResourceId"]
    assert view(server_iam, VPC) is None
    # A FAILED answer is the handler's normal return, not a Lambda function error.
    assert function.invocations[-1].outcome is Outcome.SUCCESS
    assert "Traceback" not in body["Reason"]


def test_init_failure_still_answers_failed(local_lambda, cfn, server_iam):
    # The IAM client is built at init; an impossible region makes that fail.
    function = local_lambda(AWS_REGION="not_a_region", AWS_DEFAULT_REGION="not_a_region")
    stack = SimulatedStack("runtime-init-failure", invoke=function.invoke, cfn=cfn)

    body = stack.create(**sample_properties("create"))

    assert body["Status"] == "FAILED"
    assert "not_a_region" in body["Reason"]
    assert body["PhysicalResourceId"], "every answer carries the resource's physical id"
    invocation = function.invocations[-1]
    assert invocation.outcome is Outcome.SUCCESS
    assert invocation.duration_ms < 2000
    assert view(server_iam, VPC) is None


def test_no_region_configured_still_answers_failed(local_lambda, cfn, server_iam):
    function = local_lambda(AWS_REGION=None, AWS_DEFAULT_REGION=None)
    stack = SimulatedStack("runtime-no-region", invoke=function.invoke, cfn=cfn)

    body = stack.create(**sample_properties("create"))

    assert body["Status"] == "FAILED"
    assert "region" in body["Reason"]
    assert function.invocations[-1].duration_ms < 5000


def test_deadline_shorter_than_propagation_delay_answers_before_it(local_lambda, cfn, server_iam):
    function = local_lambda(timeout_seconds=6)
    stack = SimulatedStack("runtime-short-deadline", invoke=function.invoke, cfn=cfn)

    event = stack.request("Create", sample_properties("create", PropagationDelaySeconds="10"))
    invocation = function.invoke(event)

    key = cfn.key_of(event["ResponseURL"])
    (body,) = cfn.bodies(key)
    (arrived,) = cfn.arrivals(key)
    # The wait is cut to the time left (the contract), so the roles are there and
    # the answer arrives while the invocation still runs.
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert invocation.outcome is Outcome.SUCCESS
    assert arrived < invocation.deadline_at - 0.5
    assert "propagation wait cut" in invocation.logs
    assert view(server_iam, VPC) is not None


def test_timed_out_failed_arrives_before_the_deadline(local_lambda, cfn, black_hole):
    # IAM that never answers: only the deadline can end this invocation.
    function = local_lambda(timeout_seconds=3, AWS_ENDPOINT_URL_IAM=black_hole)
    stack = SimulatedStack("runtime-timeout", invoke=function.invoke, cfn=cfn)

    event = stack.request("Create", sample_properties("create"))
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
    """``make invoke EVENT=...``: logs on stderr, CloudFormation's answer as JSON on stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.invoke", "events/create-invalid.json", "events/delete.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    decoder = json.JSONDecoder()
    invalid, end = decoder.raw_decode(done.stdout)
    delete, _ = decoder.raw_decode(done.stdout[end:].lstrip())
    assert invalid["Status"] == "FAILED" and "CreateVpcRole" in invalid["Reason"]
    assert delete["Status"] == "SUCCESS"
    assert done.stderr.count("REPORT RequestId:") == 2
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
