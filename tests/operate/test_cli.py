"""dms-prereq-roles end to end: the real command against moto_server's IAM, STS and Lambda,
CloudFormation's stack reads (testkit.cfn_api) and DMS (testkit.dms_api)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE
from dms_prereq.ownership import (
    CLAIM_KEY_PREFIX,
    ORIGIN_KEY,
    ROLE_TAGS_KEY,
    UNCLAIMED_SINCE_KEY,
    is_ours,
)
from dms_prereq.settings import AccountSettings, BoundaryChoice
from dms_prereq_cli import policies

from testkit import REGION
from testkit.local_aws import free_port
from tests.operate.conftest import Run
from tests.operate.scenario import (
    DMS_REGIONS,
    FUNCTION_ARN,
    Account,
    demo,
    never_created_stack,
)

pytestmark = pytest.mark.e2e

Cli = Callable[..., Run]
ROOT = Path(__file__).resolve().parents[2]
OTHER_REGION = DMS_REGIONS[1]


def as_json(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run.out)
    return data


def roles_by_name(run: Run) -> dict[str, dict[str, Any]]:
    return {r["role"]: r for r in as_json(run)["roles"]}


def claim_stacks(role: dict[str, Any]) -> list[str]:
    return [c["stack_name"] for c in role["claims"]]


def verdicts(run: Run) -> dict[tuple[str, str], str]:
    return {
        (c["role"], c["stack_name"]): c["verdict"]
        for role in as_json(run)["roles"]
        for c in role["claims"]
    }


# -- status ---------------------------------------------------------------------------


def test_status_of_an_empty_account_is_all_absent_and_fine(account: Account, cli: Cli) -> None:
    account.deploy()

    run = cli("status", "--output", "json")

    assert run.status == 0, run
    assert [r["exists"] for r in as_json(run)["roles"]] == [False, False, False]
    assert as_json(run)["problems"] == []
    assert as_json(run)["settings"]["function_arn"] == FUNCTION_ARN


def test_status_shows_shared_created_and_adopted_roles(account: Account, cli: Cli) -> None:
    account.deploy()
    demo(account)

    run = cli("status", "--output", "json")

    assert run.status == 0, run
    roles = roles_by_name(run)
    assert roles[VPC_ROLE.name]["origin"] == "created"
    assert roles[CLOUDWATCH_LOGS_ROLE.name]["origin"] == "adopted"
    assert roles[REDSHIFT_ROLE.name]["origin"] == "created"
    assert claim_stacks(roles[VPC_ROLE.name]) == ["billing-dms", "orders-dms"]
    assert claim_stacks(roles[REDSHIFT_ROLE.name]) == ["billing-dms"]
    for role in roles.values():
        assert role["trust_ok"] and role["managed_policy_attached"]
        assert role["arn"].endswith(f":role/{role['role']}")
        assert {c["verdict"] for c in role["claims"]} == {"live"}
        assert role["sweep"]["kept"] == "claimed"
        assert role["sweep"]["changes"] == []
    assert as_json(run)["settings"]["dms_regions"] == list(DMS_REGIONS)


def test_status_table_names_every_role_claiming_stack_and_verdict(
    account: Account, cli: Cli
) -> None:
    account.deploy()
    demo(account)

    run = cli("status")

    assert run.status == 0, run
    for expected in (*(r.name for r in ROLES), "orders-dms", "billing-dms", "live"):
        assert expected in run.out
    assert "adopted" in run.out and "created" in run.out
    assert "keeps it: claimed" in run.out
    assert f"note: settings: from the environment of {FUNCTION_ARN}." in run.out
    assert run.out.rstrip().endswith("status: no problems found.")
    assert run.err == ""  # no progress noise when stderr is not a terminal


def test_status_changes_nothing(account: Account, cli: Cli) -> None:
    account.deploy()
    stacks = demo(account)
    account.delete_stack(stacks["billing-dms"])
    account.mark_unclaimed(VPC_ROLE, timedelta(days=3))
    before = {role.name: account.tags(role) for role in ROLES}

    run = cli("status", "--output", "json")

    assert run.status == 0, run
    assert {role.name: account.tags(role) for role in ROLES} == before


def test_status_flags_a_role_dms_cannot_assume(account: Account, cli: Cli) -> None:
    account.deploy()
    account.console_role(VPC_ROLE, principals=("ec2.amazonaws.com",))

    run = cli("status", "--output", "json")

    assert run.status == 1
    role = roles_by_name(run)[VPC_ROLE.name]
    assert role["origin"] == "foreign" and not role["trust_ok"]
    assert role["trust_missing_principals"] == ["dms.amazonaws.com"]
    assert role["sweep"]["plan"] == "never touches it (not this project's)"
    assert any("dms.amazonaws.com" in p for p in as_json(run)["problems"])


def test_status_flags_a_role_at_a_path_dms_does_not_look_at(account: Account, cli: Cli) -> None:
    account.deploy()
    account.iam.create_role(
        RoleName=VPC_ROLE.name,
        Path="/service-role/",
        AssumeRolePolicyDocument=json.dumps(VPC_ROLE.trust_policy(None)),
    )

    run = cli("status")

    assert run.status == 1
    assert "yes, at /service-role/" in run.out
    assert f"problem: {VPC_ROLE.name}: it is at path /service-role/" in run.out


def test_status_flags_a_claimed_role_without_its_managed_policy(account: Account, cli: Cli) -> None:
    account.deploy()
    account.claim(account.create_stack("orders-dms"))
    account.iam.detach_role_policy(
        RoleName=VPC_ROLE.name, PolicyArn=VPC_ROLE.managed_policy_arn("aws")
    )

    run = cli("status")

    assert run.status == 1
    assert "NOT attached" in run.out
    assert "would re-attach its policy" in run.out
    assert f"problem: {VPC_ROLE.name}: claimed but {VPC_ROLE.managed_policy}" in run.out


def test_status_shows_the_permissions_boundary(account: Account, cli: Cli) -> None:
    boundary = "arn:aws:iam::123456789012:policy/dms-boundary"
    account.deploy(ROLE_PERMISSIONS_BOUNDARY=boundary)
    account.claim(
        account.create_stack("orders-dms"), AccountSettings(boundary=BoundaryChoice(boundary))
    )

    run = cli("status", "--output", "json")

    assert roles_by_name(run)[VPC_ROLE.name]["permissions_boundary"] == boundary
    # The deployment names the same boundary: the sweep has nothing to bring in line.
    assert roles_by_name(run)[VPC_ROLE.name]["sweep"]["settings_applied"] == []


def test_status_shows_the_conditions_on_a_trust_policy(account: Account, cli: Cli) -> None:
    account.deploy()
    account.claim(
        account.create_stack("orders-dms"), AccountSettings(restrict_to_source_account=True)
    )

    run = cli("status", "--output", "json")

    assert run.status == 0, run
    assert roles_by_name(run)[VPC_ROLE.name]["trust_condition_keys"] == ["aws:SourceAccount"]
    assert "ok (condition: aws:SourceAccount)" in cli("status").out
    # Made while the setting was true; the deployment now says false: status tells.
    assert any(
        n.startswith(f"{VPC_ROLE.name}: its trust policy keeps the aws:SourceAccount condition")
        for n in as_json(run)["notes"]
    )


def test_status_says_when_a_role_lacks_the_condition_the_deployment_asks_for(
    account: Account, cli: Cli
) -> None:
    account.deploy(RESTRICT_TO_SOURCE_ACCOUNT="true")
    account.claim(account.create_stack("orders-dms"))  # made before the setting was true

    run = cli("status", "--output", "json")

    assert run.status == 0, run
    notes = [n for n in as_json(run)["notes"] if "RestrictToSourceAccount is true" in n]
    assert [n.split(":")[0] for n in notes] == [VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name]


def test_status_gives_each_claim_the_sweeps_verdict(account: Account, cli: Cli) -> None:
    account.deploy()
    stacks = demo(account)
    account.delete_stack(stacks["billing-dms"])
    account.claim(never_created_stack("vanished-dms"))
    in_progress = account.create_stack("rolling-dms", region=OTHER_REGION)
    account.cfn_api.put_stack(in_progress, "UPDATE_IN_PROGRESS")
    account.claim(in_progress)

    run = cli("status", "--output", "json")

    assert run.status == 0, run  # stale claims are the sweep's to release, not a problem
    found = verdicts(run)
    assert found[(VPC_ROLE.name, "orders-dms")] == "live"
    assert found[(VPC_ROLE.name, "billing-dms")] == "stale"
    assert found[(VPC_ROLE.name, "vanished-dms")] == "stale"
    assert found[(VPC_ROLE.name, "rolling-dms")] == "live"
    (rolling,) = [
        c for c in roles_by_name(run)[VPC_ROLE.name]["claims"] if c["stack_name"] == "rolling-dms"
    ]
    assert rolling["region"] == OTHER_REGION and rolling["why"] == "stack UPDATE_IN_PROGRESS"
    redshift = roles_by_name(run)[REDSHIFT_ROLE.name]["sweep"]
    assert redshift["changes"] == ["would release 1 stale claim", "would mark it unclaimed"]
    # Each stack was asked in its own region.
    asked = {
        (r.region, r.stack) for r in account.cfn_api.requests() if r.action == "DescribeStacks"
    }
    assert asked == {
        (OTHER_REGION, in_progress),
        *((REGION, s) for s in (*stacks.values(), never_created_stack("vanished-dms"))),
    }


def test_the_sweep_asks_each_stack_once(account: Account, cli: Cli) -> None:
    """One DescribeStacks per distinct stack per sweep, however many roles its claims are on."""
    account.deploy()
    stacks = demo(account)
    account.delete_stack(stacks["billing-dms"])

    run = cli("prune", "--output", "json")

    assert run.status == 1, run
    described = [r.stack for r in account.cfn_api.requests() if r.action == "DescribeStacks"]
    assert sorted(described) == sorted(stacks.values())
    assert as_json(run)["summary"]["stacks_asked"] == len(stacks)


def test_status_says_when_the_sweep_may_delete_a_role(account: Account, cli: Cli) -> None:
    account.deploy(UNCLAIMED_ROLE_RETENTION_MINUTES="1440")
    stack = account.create_stack("orders-dms")
    account.claim(stack)
    account.delete_stack(stack)
    account.mark_unclaimed(VPC_ROLE, timedelta(hours=2))
    account.mark_unclaimed(CLOUDWATCH_LOGS_ROLE, timedelta(days=2))

    run = cli("status", "--output", "json")

    roles = roles_by_name(run)
    vpc, logs = roles[VPC_ROLE.name], roles[CLOUDWATCH_LOGS_ROLE.name]
    assert vpc["marks"]["unclaimed_since"] == account.tags(VPC_ROLE)[UNCLAIMED_SINCE_KEY]
    assert vpc["sweep"]["kept"] == "within retention"
    marked = datetime.strptime(vpc["marks"]["unclaimed_since"], "%Y-%m-%dT%H:%M:%SZ")
    expected = (marked + timedelta(minutes=1440)).replace(tzinfo=UTC)
    assert datetime.fromisoformat(vpc["sweep"]["deletable_after"]) == expected
    assert logs["sweep"]["would_delete"] is True
    assert logs["sweep"]["plan"] == "would release 1 stale claim; would delete it"
    table = cli("status").out
    assert f"from {expected:%Y-%m-%dT%H:%M:%SZ}" in table
    assert VPC_ROLE.name in account.role_names()  # a dry run: nothing deleted


def test_status_shows_what_dms_has_that_uses_each_role_by_region(
    account: Account, cli: Cli
) -> None:
    account.deploy()
    stack = account.create_stack("orders-dms")
    account.claim(stack, CreateRedshiftRole="true")
    account.delete_stack(stack)
    for role in ROLES:
        account.mark_unclaimed(role, timedelta(days=2))
    account.console_subnet_group(OTHER_REGION)
    account.dms_api.add_replication_config(REGION, "nightly-copy")

    run = cli("status", "--output", "json")

    roles = roles_by_name(run)
    vpc = roles[VPC_ROLE.name]
    assert vpc["dms_usage"]["in_use"] == {
        OTHER_REGION: {"replication subnet groups": 1},
        REGION: {"serverless replication configs": 1},
    }
    assert vpc["sweep"]["kept"] == "DMS uses it" and vpc["sweep"]["deletable_after"] is None
    logs = roles[CLOUDWATCH_LOGS_ROLE.name]
    assert logs["dms_usage"]["in_use"] == {REGION: {"serverless replication configs": 1}}
    assert roles[REDSHIFT_ROLE.name]["dms_usage"]["in_use"] == {}
    assert roles[REDSHIFT_ROLE.name]["sweep"]["would_delete"] is True
    table = cli("status").out
    assert f"{OTHER_REGION}: 1 replication subnet groups" in table
    assert "keeps it: DMS uses it" in table


def test_status_says_where_dms_could_not_be_asked(account: Account, cli: Cli) -> None:
    account.deploy()
    stack = account.create_stack("orders-dms")
    account.claim(stack)
    account.delete_stack(stack)
    account.mark_unclaimed(VPC_ROLE, timedelta(days=2))
    account.dms_api.fail_region(OTHER_REGION)

    run = cli("status", "--output", "json")

    vpc = roles_by_name(run)[VPC_ROLE.name]
    assert set(vpc["dms_usage"]["unknown"]) == {OTHER_REGION}
    assert "AccessDeniedException" in vpc["dms_usage"]["unknown"][OTHER_REGION]
    assert vpc["sweep"]["kept"] == "uncertain"
    assert vpc["sweep"]["would_delete"] is False


def test_status_notes_a_claim_cloudformation_would_not_show(account: Account, cli: Cli) -> None:
    account.deploy()
    stack = account.create_stack("orders-dms")
    account.claim(stack)
    account.cfn_api.deny("DescribeStacks", stack)

    run = cli("status", "--output", "json")

    assert run.status == 0, run
    assert set(verdicts(run).values()) == {"uncertain"}
    assert any("could not be checked" in n and "keeps it" in n for n in as_json(run)["notes"])
    assert roles_by_name(run)[VPC_ROLE.name]["sweep"]["changes"] == []


# -- where the settings come from -------------------------------------------------------------


def test_the_deployments_retention_decides(account: Account, cli: Cli) -> None:
    account.deploy(UNCLAIMED_ROLE_RETENTION_MINUTES="Never")
    account.claim(never_created_stack("vanished-dms"))
    account.mark_unclaimed(VPC_ROLE, timedelta(days=400))

    run = cli("status", "--output", "json")

    assert roles_by_name(run)[VPC_ROLE.name]["sweep"]["kept"] == "retention Never"
    assert as_json(run)["settings"]["retention_minutes"] is None


def test_retention_overrides_the_deployments(account: Account, cli: Cli) -> None:
    account.deploy(UNCLAIMED_ROLE_RETENTION_MINUTES="Never")
    account.claim(never_created_stack("vanished-dms"))
    account.mark_unclaimed(VPC_ROLE, timedelta(hours=5))

    run = cli("status", "--retention", "240", "--output", "json")

    assert roles_by_name(run)[VPC_ROLE.name]["sweep"]["would_delete"] is True
    assert as_json(run)["settings"]["retention_minutes"] == 240
    assert "retention: 240 minutes (--retention)." in as_json(run)["notes"]


def test_function_names_the_deployment_explicitly(account: Account, cli: Cli) -> None:
    arn = account.deploy()
    account.cfn_api.reset()  # no deployment stack to find it by

    found = cli("status", "--function", arn, "--output", "json")
    missing = cli("status", "--function", "no-such-function")

    assert as_json(found)["settings"]["function_arn"] == arn
    assert missing.status == 2 and missing.out == ""
    assert missing.err.startswith("dms-prereq-roles: error: cannot read the settings of the ")
    assert "no-such-function" in missing.err and missing.err.count("\n") == 1


def test_without_a_deployment_the_settings_come_from_the_shell(
    account: Account, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    account.claim(never_created_stack("vanished-dms"))
    monkeypatch.setenv("DMS_REGIONS", REGION)
    monkeypatch.setenv("UNCLAIMED_ROLE_RETENTION_MINUTES", "Never")

    run = cli("status", "--output", "json")

    assert run.status == 0, run
    settings = as_json(run)["settings"]
    assert settings["function_arn"] is None and settings["retention_minutes"] is None
    assert as_json(run)["dms_regions_asked"] == [REGION]
    assert any("no deployment found" in n for n in as_json(run)["notes"])


def test_invalid_settings_of_the_deployment_are_a_one_line_error(
    account: Account, cli: Cli
) -> None:
    account.deploy(UNCLAIMED_ROLE_RETENTION_MINUTES="60")

    run = cli("status")

    assert run.status == 2 and run.out == ""
    assert "UnclaimedRoleRetentionMinutes" in run.err and run.err.count("\n") == 1


@pytest.mark.parametrize("value", ["60", "soon", "-1"])
def test_an_invalid_retention_is_a_usage_error(value: str) -> None:
    done = tool("prune", f"--retention={value}")

    assert_one_line_error(done, "--retention", "Never, 0 or whole minutes from 240")


# -- check-policies ------------------------------------------------------------------------


def test_check_policies_reports_the_default_versions(account: Account, cli: Cli) -> None:
    demo(account)

    run = cli("check-policies", "--output", "json")

    assert run.status == 0, run
    versions = {p["policy"]: p["default_version"] for p in as_json(run)["managed_policies"]}
    assert versions == policies.KNOWN_VERSIONS
    assert {p["state"] for p in as_json(run)["managed_policies"]} == {"current"}
    assert as_json(run)["roles"] == []


def test_check_policies_says_when_aws_moved_past_the_known_version(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(policies.KNOWN_VERSIONS, VPC_ROLE.managed_policy, "v3")

    run = cli("check-policies")

    assert run.status == 1
    assert "AWS moved past v3" in run.out
    assert f"AWS has moved {VPC_ROLE.managed_policy} past v3 to v4" in run.out


def test_check_policies_finds_actions_a_hand_made_copy_lacks(account: Account, cli: Cli) -> None:
    account.console_role(CLOUDWATCH_LOGS_ROLE, managed=False)
    account.iam.put_role_policy(
        RoleName=CLOUDWATCH_LOGS_ROLE.name,
        PolicyName="dms-logs-copy",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:Describe*"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )

    run = cli("check-policies", "--output", "json")

    assert run.status == 1
    (role,) = as_json(run)["roles"]
    assert role["role"] == CLOUDWATCH_LOGS_ROLE.name
    assert role["own_policies"] == [{"name": "dms-logs-copy", "kind": "inline"}]
    assert role["lacking_actions"] == ["logs:CreateLogGroup"]


def test_check_policies_flags_a_role_with_no_policy_at_all(account: Account, cli: Cli) -> None:
    account.console_role(VPC_ROLE, managed=False)

    run = cli("check-policies", "--output", "json")

    assert run.status == 1
    assert as_json(run)["problems"] == [
        f"{VPC_ROLE.name} has no policies: neither {VPC_ROLE.managed_policy} nor its own."
    ]


def test_check_policies_reads_customer_managed_policies_beside_the_aws_one(
    account: Account, cli: Cli
) -> None:
    account.console_role(VPC_ROLE)
    arn = account.iam.create_policy(
        PolicyName="dms-vpc-extra",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    account.iam.attach_role_policy(RoleName=VPC_ROLE.name, PolicyArn=arn)

    run = cli("check-policies", "--output", "json")

    # The AWS policy is attached beside it, so what the copy lacks is a note, not a problem.
    assert run.status == 0, run
    (role,) = as_json(run)["roles"]
    assert role["own_policies"] == [{"name": "dms-vpc-extra", "kind": "customer-managed"}]
    assert role["managed_policy_attached"] is True
    assert "ec2:CreateNetworkInterface" in role["lacking_actions"]
    assert not any(a.startswith("ec2:Describe") for a in role["lacking_actions"])
    assert any(VPC_ROLE.name in n for n in as_json(run)["notes"])


# -- prune ------------------------------------------------------------------------------


def prune_scenario(account: Account) -> dict[str, str]:
    """A live stack, a deleted one, and one CloudFormation never knew, all claiming roles."""
    stacks = {
        "live": account.create_stack("orders-dms"),
        "deleted": account.create_stack("billing-dms"),
        "vanished": never_created_stack("vanished-dms"),
    }
    account.claim(stacks["live"])
    account.claim(stacks["deleted"], CreateRedshiftRole="true")
    account.claim(stacks["vanished"])
    account.delete_stack(stacks["deleted"])
    return stacks


def claim_values(account: Account, role: Any) -> list[str]:
    return sorted(v for k, v in account.tags(role).items() if k.startswith(CLAIM_KEY_PREFIX))


def test_prune_without_apply_only_reports(account: Account, cli: Cli) -> None:
    account.deploy()
    prune_scenario(account)
    before = {role.name: account.tags(role) for role in ROLES}

    run = cli("prune", "--output", "json")

    assert run.status == 1
    found = verdicts(run)
    assert found[(VPC_ROLE.name, "orders-dms")] == "live"
    assert found[(VPC_ROLE.name, "billing-dms")] == "stale"
    assert found[(VPC_ROLE.name, "vanished-dms")] == "stale"
    assert found[(REDSHIFT_ROLE.name, "billing-dms")] == "stale"
    assert as_json(run)["problems"] == [
        f"{VPC_ROLE.name}: the sweep would release 2 stale claims; run with --apply.",
        f"{CLOUDWATCH_LOGS_ROLE.name}: the sweep would release 2 stale claims; run with --apply.",
        f"{REDSHIFT_ROLE.name}: the sweep would release 1 stale claim; would mark it unclaimed; "
        "run with --apply.",
    ]
    assert as_json(run)["summary"]["apply"] is False
    assert {role.name: account.tags(role) for role in ROLES} == before


def test_prune_apply_releases_stale_claims_and_marks_what_nobody_claims(
    account: Account, cli: Cli
) -> None:
    account.deploy()
    stacks = prune_scenario(account)

    run = cli("prune", "--apply", "--output", "json")

    assert run.status == 0, run
    released = {
        (c["role"], c["stack_name"]): c["released"]
        for role in as_json(run)["roles"]
        for c in role["claims"]
    }
    assert released[(VPC_ROLE.name, "orders-dms")] is False
    assert released[(VPC_ROLE.name, "vanished-dms")] is True
    assert released[(REDSHIFT_ROLE.name, "billing-dms")] is True
    for role in (VPC_ROLE, CLOUDWATCH_LOGS_ROLE):
        assert claim_values(account, role) == [stacks["live"]]
        assert account.tags(role)[ORIGIN_KEY] == "created"
    # Created for the deleted stack only: marked, and kept for the retention (1440 minutes).
    assert claim_values(account, REDSHIFT_ROLE) == []
    assert UNCLAIMED_SINCE_KEY in account.tags(REDSHIFT_ROLE)
    assert REDSHIFT_ROLE.name in account.role_names()
    again = cli("prune")
    assert again.status == 0, again


def test_prune_apply_with_retention_0_deletes_at_the_next_sweep(account: Account, cli: Cli) -> None:
    account.deploy()
    account.claim(never_created_stack("vanished-dms"))

    first = cli("prune", "--apply", "--retention", "0", "--output", "json")
    marked = {r["role"]: r for r in as_json(first)["roles"]}
    second = cli("prune", "--apply", "--retention", "0", "--output", "json")

    assert first.status == 0 and second.status == 0, (first, second)
    assert marked[VPC_ROLE.name]["marked"] is True
    assert {r["role"]: r["deleted"] for r in as_json(second)["roles"]} == {
        VPC_ROLE.name: True,
        CLOUDWATCH_LOGS_ROLE.name: True,
        REDSHIFT_ROLE.name: False,
    }
    assert account.role_names() == set()


def test_prune_apply_waits_the_settle_time_twice_before_a_deletion(
    account: Account, cli: Cli
) -> None:
    account.deploy(SWEEP_SETTLE_SECONDS="1")
    account.claim(never_created_stack("vanished-dms"), CreateCloudWatchLogsRole="false")
    cli("prune", "--apply", "--retention", "0")

    started = time.monotonic()
    run = cli("prune", "--apply", "--retention", "0", "--output", "json")
    took = time.monotonic() - started

    assert {r["role"]: r["deleted"] for r in as_json(run)["roles"]}[VPC_ROLE.name] is True
    assert took >= 2.0, took  # deleting-since, settle, re-read; detach, settle, re-read
    assert as_json(run)["settings"]["sweep_settle_seconds"] == 1


def test_prune_keeps_a_role_a_console_made_subnet_group_uses(account: Account, cli: Cli) -> None:
    account.deploy()
    account.claim(never_created_stack("vanished-dms"))
    account.console_subnet_group(OTHER_REGION)

    cli("prune", "--apply", "--retention", "0")
    run = cli("prune", "--apply", "--retention", "0", "--output", "json")

    roles = {r["role"]: r for r in as_json(run)["roles"]}
    assert roles[VPC_ROLE.name]["kept"] == "DMS uses it"
    assert roles[VPC_ROLE.name]["why"] == f"{OTHER_REGION}: 1 replication subnet groups"
    assert roles[CLOUDWATCH_LOGS_ROLE.name]["deleted"] is True
    assert account.role_names() == {VPC_ROLE.name}


def test_prune_sees_a_resource_removed_from_a_live_stack(account: Account, cli: Cli) -> None:
    account.deploy()
    stack = account.create_stack("orders-dms")
    account.claim(stack)
    account.remove_resource(stack)

    run = cli("prune", "--output", "json")

    assert run.status == 1
    assert set(verdicts(run).values()) == {"stale"}
    whys = {c["why"] for role in as_json(run)["roles"] for c in role["claims"]}
    assert whys == {"stack UPDATE_COMPLETE without the resource (absent)"}


def test_prune_leaves_another_accounts_claims_alone(account: Account, cli: Cli) -> None:
    account.deploy()
    account.claim(never_created_stack("elsewhere-dms").replace("123456789012", "210987654321"))
    before = {role.name: claim_values(account, role) for role in (VPC_ROLE, CLOUDWATCH_LOGS_ROLE)}

    run = cli("prune", "--apply", "--output", "json")

    assert run.status == 0, run
    assert set(verdicts(run).values()) == {"uncertain"}
    assert {
        role.name: claim_values(account, role) for role in (VPC_ROLE, CLOUDWATCH_LOGS_ROLE)
    } == before
    assert any("210987654321" in n for n in as_json(run)["notes"])


def test_prune_apply_untags_an_adopted_role_nobody_claims(account: Account, cli: Cli) -> None:
    account.deploy()
    account.console_role(CLOUDWATCH_LOGS_ROLE)
    account.claim(never_created_stack("vanished-dms"))

    run = cli("prune", "--apply", "--output", "json")

    assert run.status == 0, run
    assert not any(is_ours(key) for key in account.tags(CLOUDWATCH_LOGS_ROLE))
    attached = account.iam.list_attached_role_policies(RoleName=CLOUDWATCH_LOGS_ROLE.name)
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [
        CLOUDWATCH_LOGS_ROLE.managed_policy_arn("aws")
    ]
    logs = {r["role"]: r for r in as_json(run)["roles"]}[CLOUDWATCH_LOGS_ROLE.name]
    assert logs["untagged_adopted"] is True


def test_prune_apply_brings_created_roles_to_the_deployments_tags(
    account: Account, cli: Cli
) -> None:
    account.deploy(ROLE_TAGS="CostCenter=dms")
    account.claim(account.create_stack("orders-dms"))

    dry = cli("prune", "--output", "json")
    run = cli("prune", "--apply")

    assert dry.status == 1
    assert f"{VPC_ROLE.name}: the sweep would apply settings (tags set: CostCenter" in dry.out
    assert run.status == 0, run
    assert account.tags(VPC_ROLE)["CostCenter"] == "dms"
    assert account.tags(VPC_ROLE)[ROLE_TAGS_KEY] == "CostCenter"


# -- errors and entry points ------------------------------------------------------------


def test_an_unreachable_endpoint_is_a_one_line_error(cli: Cli) -> None:
    run = cli("--endpoint-url", f"http://127.0.0.1:{free_port()}", "status")

    assert run.status == 2
    assert run.out == ""
    assert run.err.startswith("dms-prereq-roles: error: ")
    assert run.err.count("\n") == 1


def test_an_unknown_profile_is_a_one_line_error(cli: Cli) -> None:
    run = cli("--profile", "no-such-profile", "status")

    assert run.status == 2
    assert "no-such-profile" in run.err and run.err.count("\n") == 1


def test_status_without_a_region_is_a_one_line_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    run = cli("status")

    assert run.status == 2 and run.out == ""
    assert "--region" in run.err and run.err.count("\n") == 1


def tool(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as an operator runs it."""
    script = Path(sys.executable).with_name("dms-prereq-roles")
    return subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_console_script_runs_against_the_stand_ins(account: Account) -> None:
    account.deploy()
    demo(account)

    done = tool("status", "--output", "json", **account.env())

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert len(json.loads(done.stdout)["roles"]) == 3


def test_usage_errors_exit_2_with_one_line() -> None:
    done = tool("no-such-command")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "error:" in done.stderr


@dataclass
class Answer:
    """What the impostor endpoint answers to every request."""

    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body></body></html>"


@pytest.fixture
def impostor() -> Iterator[tuple[str, Answer]]:
    """An HTTP endpoint that answers, but not as AWS: a web server, a captive portal, a proxy."""
    answer = Answer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()


def assert_one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("dms-prereq-roles: error: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stderr


@pytest.mark.parametrize("url", ["not-a-url", "ftp://example.com", "http://", "http://h:port"])
def test_a_malformed_endpoint_url_is_a_one_line_error(url: str) -> None:
    done = tool("status", "--endpoint-url", url)

    assert_one_line_error(done, "--endpoint-url", repr(url))


def test_an_unusable_endpoint_from_the_environment_is_a_one_line_error() -> None:
    done = tool("status", AWS_ENDPOINT_URL="not-a-url")

    assert_one_line_error(done, "not-a-url")


@pytest.mark.parametrize("command", [["status"], ["check-policies"], ["prune"]])
@pytest.mark.parametrize(
    "answer",
    [
        Answer(),
        Answer(body=b"<html><body>It works!</body></html>"),
        Answer(content_type="application/json", body=b'{"hello": "world"}'),
        Answer(content_type="text/plain", body=b""),
        Answer(status=404, body=b"<html><body>Not Found</body></html>"),
        Answer(status=403, body=b"<!DOCTYPE html><html><body><p>Forbidden</body></html>"),
    ],
    ids=["html-page", "xml-like-html", "json", "empty", "404-page", "403-page"],
)
def test_an_endpoint_that_is_not_aws_is_a_one_line_error(
    impostor: tuple[str, Answer], command: list[str], answer: Answer
) -> None:
    url, served = impostor
    served.__dict__.update(answer.__dict__)

    done = tool(*command, "--endpoint-url", url, "--region", "us-east-1")

    assert_one_line_error(done, "not an AWS answer", f"HTTP {answer.status}")


def test_a_proxy_error_page_is_retried_then_a_one_line_error(
    impostor: tuple[str, Answer],
) -> None:
    url, served = impostor
    served.status, served.body = 502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"

    done = tool("status", "--endpoint-url", url, "--region", "us-east-1")

    assert_one_line_error(done, "--endpoint-url")


def test_python_dash_m_is_the_same_tool() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dms_prereq_cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )

    assert done.returncode == 0
    assert done.stdout.startswith("dms-prereq-roles ")
