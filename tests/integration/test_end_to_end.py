"""End to end: the entry point in its own process, a real moto_server, HTTPS answers.

Each request from events/*.json runs in a fresh Python process (as a cold
Lambda would) that finds IAM through AWS_ENDPOINT_URL_IAM, CloudFormation's
stack reads and DMS through their AWS_ENDPOINT_URL_* variables, and trusts the
CloudFormation stand-in's certificate through SSL_CERT_FILE: no code path
differs from AWS but the endpoints. The deployment's settings reach it as
environment variables, as the template sets them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from testkit.dms_api import DmsApi
from testkit.invoke import invoke_in_fresh_process, run_in_fresh_process
from testkit.local_aws import CloudFormationStandIn, MotoServer
from testkit.stack import SimulatedStack, load_event
from tools.invoke import begin_operation

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def environment(
    moto: MotoServer, cfn: CloudFormationStandIn, dms: DmsApi | None = None, **settings: str
) -> dict[str, str]:
    """Where every stand-in is (CloudFormation's stack reads: AWS_ENDPOINT_URL_CLOUDFORMATION,
    set for the whole session by tests/conftest.py), and the deployment's settings."""
    env = {**moto.env(), **cfn.env(), **settings}
    if dms is not None:
        # boto3 names the variable after the service id, "Database Migration Service".
        env["AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE"] = dms.url
    return env


def run_entry_point(event: dict[str, Any], moto: MotoServer, cfn: CloudFormationStandIn) -> str:
    return run_in_fresh_process(event, environment(moto, cfn))


def dms_roles(iam: Any) -> list[str]:
    return sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if "dms" in r["RoleName"])


def test_sample_events_through_real_entry_point(server_iam, moto_server, cfn, cfn_api, dms_api):
    """A stack's whole life, then the sweep: the roles stay after the Delete, unclaimed,
    and two sweeps later (retention 0: one marks, the next deletes) they are gone."""
    cfn_api.reset()
    dms_api.reset()
    deployment = environment(
        moto_server,
        cfn,
        dms_api,
        ROLE_TAGS="team=data-platform",
        UNCLAIMED_ROLE_RETENTION_MINUTES="0",
        SWEEP_SETTLE_SECONDS="0",
        DMS_REGIONS="us-east-1,eu-west-1",
    )

    def invoke(event: dict[str, Any]) -> Any:
        return invoke_in_fresh_process(event, deployment).value

    stack = SimulatedStack(name="dms-pipeline", invoke=invoke, cfn=cfn, api=cfn_api)
    create = load_event("create")["ResourceProperties"]
    create.pop("ServiceToken")
    create["PropagationDelaySeconds"] = "1"

    started = time.monotonic()
    body = stack.create(**create)
    assert body["Status"] == "SUCCESS", body["Reason"]
    # It waited for IAM to propagate (from the roles' creation, so a little under 1 s).
    assert time.monotonic() - started >= 0.9
    role = server_iam.get_role(RoleName="dms-vpc-role")["Role"]
    assert body["Data"]["VpcRoleArn"] == role["Arn"]
    tags = {t["Key"]: t["Value"] for t in role["Tags"]}
    assert tags["team"] == "data-platform"  # the RoleTags setting
    assert tags["dms-prerequisite-roles:origin"] == "created"

    update = load_event("update")["ResourceProperties"]
    update.pop("ServiceToken")
    update["PropagationDelaySeconds"] = "0"
    body = stack.update(**update)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["CreatedRoles"] == "dms-access-for-endpoint"
    attached = server_iam.list_attached_role_policies(RoleName="dms-access-for-endpoint")
    assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == ["AmazonDMSRedshiftS3Role"]

    assert stack.delete()["Status"] == "SUCCESS"
    left = dms_roles(server_iam)
    assert left == ["dms-access-for-endpoint", "dms-cloudwatch-logs-role", "dms-vpc-role"]

    marked = invoke(load_event("scheduled"))
    assert marked["roles_marked"] == 3
    assert dms_roles(server_iam) == left
    swept = invoke(load_event("scheduled"))
    assert swept["roles_deleted"] == 3
    assert dms_roles(server_iam) == []


def test_invalid_sample_event_answers_failed_once(server_iam, moto_server, cfn, cfn_api):
    event = load_event("create-invalid")
    event["ResponseURL"] = cfn.response_url()
    begin_operation(cfn_api, event)

    logs = run_entry_point(event, moto_server, cfn)

    key = cfn.key_of(event["ResponseURL"])
    body = cfn.wait_for(key)
    time.sleep(0.2)
    assert len(cfn.bodies(key)) == 1
    assert body["Status"] == "FAILED"
    assert "CreateVpcRole" in body["Reason"]
    assert "X-Amz-Signature" not in logs
    assert not any(r["RoleName"].startswith("dms-") for r in server_iam.list_roles()["Roles"])


def test_debug_logging_never_shows_the_response_url(
    server_iam, moto_server, cfn, cfn_api, monkeypatch
):
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    event = load_event("create")
    event["ResponseURL"] = cfn.response_url()
    event["ResourceProperties"]["PropagationDelaySeconds"] = "0"
    begin_operation(cfn_api, event)

    logs = run_entry_point(event, moto_server, cfn)

    assert cfn.wait_for(cfn.key_of(event["ResponseURL"]))["Status"] == "SUCCESS"
    assert '"level":"DEBUG"' in logs  # the level took effect
    assert "X-Amz-Signature" not in logs
    assert "cloudformation-responses" not in logs
