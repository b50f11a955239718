"""End to end: the entry point in its own process, a real moto_server, HTTPS answers.

Each request from events/*.json runs in a fresh Python process (as a cold
Lambda would) that finds IAM through AWS_ENDPOINT_URL_IAM and trusts the
CloudFormation stand-in's certificate through SSL_CERT_FILE: no code path
differs from AWS but the endpoints.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from testkit.invoke import run_in_fresh_process
from testkit.local_aws import CloudFormationStandIn, MotoServer
from testkit.stack import SimulatedStack, load_event

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def run_entry_point(event: dict[str, Any], moto: MotoServer, cfn: CloudFormationStandIn) -> str:
    return run_in_fresh_process(event, {**moto.env(), **cfn.env()})


def test_sample_events_through_real_entry_point(server_iam, moto_server, cfn):
    def invoke(event: dict[str, Any]) -> None:
        run_entry_point(event, moto_server, cfn)

    stack = SimulatedStack(name="dms-pipeline", invoke=invoke, cfn=cfn)
    create = load_event("create")["ResourceProperties"]
    create.pop("ServiceToken")
    create["PropagationDelaySeconds"] = "1"

    started = time.monotonic()
    body = stack.create(**create)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert time.monotonic() - started >= 1.0  # it waited for IAM to propagate
    role = server_iam.get_role(RoleName="dms-vpc-role")["Role"]
    assert body["Data"]["VpcRoleArn"] == role["Arn"]
    tags = {t["Key"]: t["Value"] for t in role["Tags"]}
    assert tags["team"] == "data-platform"
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
    assert [r["RoleName"] for r in server_iam.list_roles()["Roles"] if "dms" in r["RoleName"]] == []


def test_invalid_sample_event_answers_failed_once(server_iam, moto_server, cfn):
    event = load_event("create-invalid")
    event["ResponseURL"] = cfn.response_url()

    logs = run_entry_point(event, moto_server, cfn)

    key = cfn.key_of(event["ResponseURL"])
    body = cfn.wait_for(key)
    time.sleep(0.2)
    assert len(cfn.bodies(key)) == 1
    assert body["Status"] == "FAILED"
    assert "CreateVpcRole" in body["Reason"]
    assert "X-Amz-Signature" not in logs
    assert not any(r["RoleName"].startswith("dms-") for r in server_iam.list_roles()["Roles"])


def test_debug_logging_never_shows_the_response_url(server_iam, moto_server, cfn, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    event = load_event("create")
    event["ResponseURL"] = cfn.response_url()
    event["ResourceProperties"]["PropagationDelaySeconds"] = "0"

    logs = run_entry_point(event, moto_server, cfn)

    assert cfn.wait_for(cfn.key_of(event["ResponseURL"]))["Status"] == "SUCCESS"
    assert '"level":"DEBUG"' in logs  # the level took effect
    assert "X-Amz-Signature" not in logs
    assert "cloudformation-responses" not in logs
