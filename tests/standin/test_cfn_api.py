"""``testkit.cfn_api.CloudFormationApi`` answers boto3 as CloudFormation would, from its registry.

Every test drives a real boto3 client over HTTP, so what is checked is what the
function will see: statuses as registered (``*_IN_PROGRESS`` included, which moto
cannot show), paging, the errors of an unknown stack, of the wrong region and of a
denied call, and a deleted stack that still answers by its ARN.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from testkit import REGION
from testkit.cfn_api import CloudFormationApi, stack_arn
from tests.standin import probe

OTHER_REGION = "eu-west-1"


@pytest.fixture(scope="module")
def server() -> Iterator[CloudFormationApi]:
    with CloudFormationApi() as api:
        yield api


@pytest.fixture
def api(server: CloudFormationApi) -> CloudFormationApi:
    server.reset()
    return server


def client(api: CloudFormationApi, region: str = REGION) -> Any:
    return probe.client("cloudformation", api.url, region)


def listed(cfn: Any, stack: str) -> tuple[dict[str, str], int]:
    """Logical id -> status over every page of ListStackResources, and the pages read."""
    pages = list(cfn.get_paginator("list_stack_resources").paginate(StackName=stack))
    statuses = {
        s["LogicalResourceId"]: s["ResourceStatus"]
        for page in pages
        for s in page["StackResourceSummaries"]
    }
    return statuses, len(pages)


def test_statuses_in_progress_as_registered(api: CloudFormationApi) -> None:
    stack = stack_arn()
    api.put_stack(stack, "UPDATE_IN_PROGRESS")
    api.put_resource(stack, "Roles", "UPDATE_IN_PROGRESS", physical_id="dms-prereq-roles")
    cfn = client(api)

    described = cfn.describe_stacks(StackName=stack)["Stacks"]
    detail = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="Roles")

    assert [(s["StackId"], s["StackStatus"]) for s in described] == [(stack, "UPDATE_IN_PROGRESS")]
    assert detail["StackResourceDetail"]["ResourceStatus"] == "UPDATE_IN_PROGRESS"
    assert detail["StackResourceDetail"]["ResourceType"] == "Custom::DmsPrerequisiteRoles"
    assert detail["StackResourceDetail"]["PhysicalResourceId"] == "dms-prereq-roles"

    api.put_stack(stack, "UPDATE_COMPLETE")
    api.put_resource(stack, "Roles", "UPDATE_COMPLETE")
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert listed(cfn, stack)[0] == {"Roles": "UPDATE_COMPLETE"}


def test_a_stack_is_found_by_name_in_its_region(api: CloudFormationApi) -> None:
    stack = stack_arn("by-name")
    api.put_stack(stack, "CREATE_IN_PROGRESS")
    assert client(api).describe_stacks(StackName="by-name")["Stacks"][0]["StackId"] == stack


def test_list_stack_resources_pages_many_resources(api: CloudFormationApi) -> None:
    stack = stack_arn()
    api.put_stack(stack, "UPDATE_COMPLETE")
    registered = {f"Roles{n:03d}": "CREATE_COMPLETE" for n in range(230)}
    registered["Roles007"] = "DELETE_SKIPPED"
    for logical_id, status in registered.items():
        api.put_resource(stack, logical_id, status)

    statuses, pages = listed(client(api), stack)

    assert statuses == registered
    assert pages == 3  # 100 + 100 + 30
    assert api.calls() == {"ListStackResources": 3}


def test_a_page_stays_right_when_resources_change_between_calls(api: CloudFormationApi) -> None:
    stack = stack_arn()
    api.put_stack(stack, "UPDATE_COMPLETE")
    for n in range(150):
        api.put_resource(stack, f"R{n:03d}", "CREATE_COMPLETE")
    cfn = client(api)
    first = cfn.list_stack_resources(StackName=stack)
    api.remove_resource(stack, "R000")
    api.remove_resource(stack, "R120")

    second = cfn.list_stack_resources(StackName=stack, NextToken=first["NextToken"])

    seen = [s["LogicalResourceId"] for s in second["StackResourceSummaries"]]
    assert seen == [f"R{n:03d}" for n in range(100, 150) if n != 120]
    assert "NextToken" not in second


def test_an_unknown_stack_is_a_validation_error(api: CloudFormationApi) -> None:
    unknown = stack_arn()
    cfn = client(api)

    assert probe.refusal(lambda: cfn.describe_stacks(StackName=unknown)) == (
        "ValidationError",
        400,
        f"Stack with id {unknown} does not exist",
    )
    assert (
        probe.refusal(lambda: cfn.list_stack_resources(StackName=unknown))[0] == "ValidationError"
    )
    assert (
        probe.refusal(
            lambda: cfn.describe_stack_resource(StackName=unknown, LogicalResourceId="Roles")
        )[0]
        == "ValidationError"
    )


def test_an_unknown_resource_of_a_known_stack_is_a_validation_error(
    api: CloudFormationApi,
) -> None:
    stack = stack_arn("known")
    api.put_stack(stack, "CREATE_IN_PROGRESS")

    code, status, message = probe.refusal(
        lambda: client(api).describe_stack_resource(StackName=stack, LogicalResourceId="Nope")
    )

    assert (code, status) == ("ValidationError", 400)
    assert message == "Resource Nope does not exist for stack known"


def test_a_stack_asked_in_another_region_does_not_exist(api: CloudFormationApi) -> None:
    stack = stack_arn(region=OTHER_REGION)
    api.put_stack(stack, "CREATE_COMPLETE")
    api.put_resource(stack, "Roles", "CREATE_COMPLETE")

    wrong = client(api, REGION)
    assert probe.refusal(lambda: wrong.describe_stacks(StackName=stack)) == (
        "ValidationError",
        400,
        f"Stack with id {stack} does not exist",
    )
    assert (
        probe.refusal(
            lambda: wrong.describe_stack_resource(StackName=stack, LogicalResourceId="Roles")
        )[0]
        == "ValidationError"
    )
    assert (
        probe.refusal(lambda: wrong.list_stack_resources(StackName=stack))[0] == "ValidationError"
    )

    right = client(api, OTHER_REGION)
    assert right.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert [(r.region, r.error) for r in api.requests()][-1] == (OTHER_REGION, None)


def test_a_deleted_stack_answers_by_its_arn_only(api: CloudFormationApi) -> None:
    stack = stack_arn("gone")
    api.put_stack(stack, "UPDATE_COMPLETE")
    api.put_resource(stack, "Roles", "UPDATE_COMPLETE")
    api.put_resource(stack, "Kept", "DELETE_SKIPPED")
    api.put_resource(stack, "Bucket", "CREATE_COMPLETE", type="AWS::S3::Bucket")
    api.delete_stack(stack)
    cfn = client(api)

    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    detail = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="Roles")

    assert described["StackStatus"] == "DELETE_COMPLETE"
    assert "DeletionTime" in described
    assert detail["StackResourceDetail"]["ResourceStatus"] == "DELETE_COMPLETE"
    assert listed(cfn, stack)[0] == {
        "Bucket": "DELETE_COMPLETE",
        "Kept": "DELETE_SKIPPED",
        "Roles": "DELETE_COMPLETE",
    }
    # "Deleted stacks: You must specify the unique stack ID" (API reference, DescribeStacks).
    assert probe.refusal(lambda: cfn.describe_stacks(StackName="gone"))[0] == "ValidationError"


def test_a_new_stack_of_a_deleted_ones_name_answers_by_name(api: CloudFormationApi) -> None:
    old, new = stack_arn("again"), stack_arn("again")
    api.put_stack(old, "CREATE_COMPLETE")
    api.delete_stack(old)
    api.put_stack(new, "CREATE_IN_PROGRESS")
    cfn = client(api)

    assert cfn.describe_stacks(StackName="again")["Stacks"][0]["StackId"] == new
    assert cfn.describe_stacks(StackName=old)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_a_forgotten_stack_does_not_exist_even_by_arn(api: CloudFormationApi) -> None:
    stack = stack_arn()
    api.put_stack(stack, "CREATE_COMPLETE")
    api.forget_stack(stack)

    assert (
        probe.refusal(lambda: client(api).describe_stacks(StackName=stack))[0] == "ValidationError"
    )


def test_a_denied_call_is_access_denied_for_that_stack_only(api: CloudFormationApi) -> None:
    denied, allowed = stack_arn(), stack_arn()
    for stack in (denied, allowed):
        api.put_stack(stack, "CREATE_COMPLETE")
    api.deny("DescribeStacks", denied)
    cfn = client(api)

    code, status, message = probe.refusal(lambda: cfn.describe_stacks(StackName=denied))

    assert (code, status) == ("AccessDenied", 403)
    assert f"cloudformation:DescribeStacks on resource: {denied}" in message
    assert cfn.describe_stacks(StackName=allowed)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert cfn.list_stack_resources(StackName=denied)["StackResourceSummaries"] == []

    api.allow("DescribeStacks", denied)
    assert cfn.describe_stacks(StackName=denied)["Stacks"][0]["StackId"] == denied


def test_a_denial_without_a_stack_refuses_every_stack_even_unknown_ones(
    api: CloudFormationApi,
) -> None:
    api.deny("DescribeStackResource")
    cfn = client(api)

    # IAM decides before CloudFormation looks for the stack.
    assert probe.refusal(
        lambda: cfn.describe_stack_resource(StackName=stack_arn(), LogicalResourceId="Roles")
    )[:2] == ("AccessDenied", 403)


def test_throttling_is_answered_then_lifts(api: CloudFormationApi) -> None:
    stack = stack_arn()
    api.put_stack(stack, "CREATE_COMPLETE")
    api.throttle("DescribeStacks", times=1)
    cfn = client(api)

    assert probe.refusal(lambda: cfn.describe_stacks(StackName=stack))[:2] == ("Throttling", 400)
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackId"] == stack


def test_requests_are_counted_per_action_and_stack(api: CloudFormationApi) -> None:
    first, second = stack_arn(), stack_arn()
    for stack in (first, second):
        api.put_stack(stack, "CREATE_COMPLETE")
    cfn = client(api)
    for stack in (first, second, first):
        cfn.describe_stacks(StackName=stack)

    assert api.calls() == {"DescribeStacks": 3}
    assert [r.stack for r in api.requests()] == [first, second, first]
    assert {r.region for r in api.requests()} == {REGION}


def test_describe_stack_resources_by_stack_or_physical_id(api: CloudFormationApi) -> None:
    stack = stack_arn()
    api.put_stack(stack, "CREATE_COMPLETE")
    api.put_resource(stack, "Roles", "CREATE_COMPLETE", physical_id="roles-physical")
    api.put_resource(stack, "Other", "CREATE_COMPLETE", type="AWS::SNS::Topic")
    cfn = client(api)

    by_stack = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    by_physical = cfn.describe_stack_resources(PhysicalResourceId="roles-physical")

    assert [r["LogicalResourceId"] for r in by_stack] == ["Other", "Roles"]
    assert [(r["StackId"], r["LogicalResourceId"]) for r in by_physical["StackResources"]] == [
        (stack, "Roles")
    ]


def test_unsigned_and_unknown_requests_are_refused(api: CloudFormationApi) -> None:
    # Plain http.client: boto3 always signs, and the point is a request without SigV4.
    host, port = urllib.parse.urlsplit(api.url).hostname, urllib.parse.urlsplit(api.url).port
    connection = http.client.HTTPConnection(host or "127.0.0.1", port, timeout=5)
    connection.request(
        "POST",
        "/",
        body=b"Action=DescribeStacks&Version=2010-05-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    answer = connection.getresponse()
    assert answer.status == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in answer.read()
    connection.close()

    assert probe.refusal(lambda: client(api).list_stacks())[:2] == ("InvalidAction", 400)


def test_the_registry_refuses_what_cloudformation_never_shows(api: CloudFormationApi) -> None:
    with pytest.raises(ValueError, match="not a stack ARN"):
        api.put_stack("my-stack", "CREATE_COMPLETE")
    with pytest.raises(ValueError, match="StackStatus"):
        api.put_stack(stack_arn(), "CREATE_IN_PROGRES")
    with pytest.raises(KeyError, match="put_stack"):
        api.put_resource(stack_arn(), "Roles", "CREATE_COMPLETE")
    with pytest.raises(ValueError, match="served"):
        api.deny("DescribeStack")


def test_another_process_reaches_it_through_the_environment(api: CloudFormationApi) -> None:
    stack = stack_arn(region=OTHER_REGION)
    api.put_stack(stack, "DELETE_IN_PROGRESS")
    script = (
        "import boto3, json, sys\n"
        "cfn = boto3.client('cloudformation', region_name=sys.argv[2])\n"
        "print(json.dumps(cfn.describe_stacks(StackName=sys.argv[1])['Stacks'][0]['StackStatus']))\n"
    )
    env = {
        **os.environ,
        **api.env(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }

    done = subprocess.run(
        [sys.executable, "-c", script, stack, OTHER_REGION],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert json.loads(done.stdout) == "DELETE_IN_PROGRESS"
    assert api.requests()[-1].region == OTHER_REGION
