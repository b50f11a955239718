"""dms-prereq-roles end to end: the real command against moto_server's IAM and CloudFormation."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE
from dms_prereq.ownership import CLAIM_KEY_PREFIX, ORIGIN_KEY
from dms_prereq_cli import policies

from testkit.local_aws import free_port
from tests.operate.conftest import Run
from tests.operate.scenario import Account, demo, never_created_stack, template

pytestmark = pytest.mark.e2e

Cli = Callable[..., Run]
ROOT = Path(__file__).resolve().parents[2]


def as_json(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run.out)
    return data


def roles_by_name(run: Run) -> dict[str, dict[str, Any]]:
    return {r["role"]: r for r in as_json(run)["roles"]}


def claim_stacks(role: dict[str, Any]) -> list[str]:
    return [c["stack_name"] for c in role["claims"]]


# -- status ---------------------------------------------------------------------------


def test_status_of_an_empty_account_is_all_absent_and_fine(cli: Cli) -> None:
    run = cli("status", "--output", "json")

    assert run.status == 0, run
    assert [r["exists"] for r in as_json(run)["roles"]] == [False, False, False]
    assert as_json(run)["problems"] == []


def test_status_shows_shared_created_and_adopted_roles(account: Account, cli: Cli) -> None:
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
        assert {c["logical_id"] for c in role["claims"]} == {"DmsRoles"}


def test_status_table_names_every_role_and_claiming_stack(account: Account, cli: Cli) -> None:
    demo(account)

    run = cli("status")

    assert run.status == 0, run
    for expected in (*(r.name for r in ROLES), "orders-dms/DmsRoles", "billing-dms/DmsRoles"):
        assert expected in run.out
    assert "adopted" in run.out and "created" in run.out
    assert run.out.rstrip().endswith("status: no problems found.")
    assert run.err == ""  # no progress noise when stderr is not a terminal


def test_status_flags_a_role_dms_cannot_assume(account: Account, cli: Cli) -> None:
    account.console_role(VPC_ROLE, principals=("ec2.amazonaws.com",))

    run = cli("status", "--output", "json")

    assert run.status == 1
    role = roles_by_name(run)[VPC_ROLE.name]
    assert role["origin"] == "foreign" and not role["trust_ok"]
    assert role["trust_missing_principals"] == ["dms.amazonaws.com"]
    assert any("dms.amazonaws.com" in p for p in as_json(run)["problems"])


def test_status_flags_a_claimed_role_without_its_managed_policy(account: Account, cli: Cli) -> None:
    account.claim(account.create_stack("orders-dms"))
    account.iam.detach_role_policy(
        RoleName=VPC_ROLE.name, PolicyArn=VPC_ROLE.managed_policy_arn("aws")
    )

    run = cli("status")

    assert run.status == 1
    assert "NOT attached" in run.out
    assert f"problem: {VPC_ROLE.name}: claimed but {VPC_ROLE.managed_policy}" in run.out


def test_status_shows_the_permissions_boundary(account: Account, cli: Cli) -> None:
    boundary = "arn:aws:iam::123456789012:policy/dms-boundary"
    account.claim(account.create_stack("orders-dms"), PermissionsBoundary=boundary)

    run = cli("status", "--output", "json")

    assert roles_by_name(run)[VPC_ROLE.name]["permissions_boundary"] == boundary


def test_status_shows_the_conditions_on_a_trust_policy(account: Account, cli: Cli) -> None:
    account.claim(account.create_stack("orders-dms"), RestrictToSourceAccount="true")

    run = cli("status", "--output", "json")

    assert run.status == 0, run
    assert roles_by_name(run)[VPC_ROLE.name]["trust_condition_keys"] == ["aws:SourceAccount"]
    assert "ok (condition: aws:SourceAccount)" in cli("status").out


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


def verdicts(run: Run) -> dict[tuple[str, str], str]:
    return {(c["role"], c["claim"]["stack_name"]): c["verdict"] for c in as_json(run)["claims"]}


def test_prune_without_apply_only_reports(account: Account, cli: Cli) -> None:
    prune_scenario(account)
    before = {role.name: account.tags(role) for role in ROLES}

    run = cli("prune", "--output", "json")

    assert run.status == 1
    found = verdicts(run)
    assert found[(VPC_ROLE.name, "orders-dms")] == "live"
    assert found[(VPC_ROLE.name, "billing-dms")] == "stack deleted"
    assert found[(VPC_ROLE.name, "vanished-dms")] == "stack gone"
    assert found[(REDSHIFT_ROLE.name, "billing-dms")] == "stack deleted"
    assert len(as_json(run)["problems"]) == 5
    assert {role.name: account.tags(role) for role in ROLES} == before


def test_prune_apply_releases_stale_claims_like_a_delete(account: Account, cli: Cli) -> None:
    stacks = prune_scenario(account)

    run = cli("prune", "--apply", "--output", "json")

    assert run.status == 0, run
    outcomes = {(c["role"], c["claim"]["stack_name"]): c["outcome"] for c in as_json(run)["claims"]}
    assert outcomes[(VPC_ROLE.name, "orders-dms")] is None
    assert outcomes[(VPC_ROLE.name, "vanished-dms")] == "released"
    assert outcomes[(REDSHIFT_ROLE.name, "billing-dms")] == "deleted"
    # The live stack keeps its claims; the Redshift role, created for the deleted stack only,
    # went the way its Delete would have taken it.
    for role in (VPC_ROLE, CLOUDWATCH_LOGS_ROLE):
        claims = [v for k, v in account.tags(role).items() if k.startswith(CLAIM_KEY_PREFIX)]
        assert claims == [f"{stacks['live']} DmsRoles"]
        assert account.tags(role)[ORIGIN_KEY] == "created"
    assert REDSHIFT_ROLE.name not in {r["RoleName"] for r in account.iam.list_roles()["Roles"]}
    again = cli("prune")
    assert again.status == 0, again


def test_prune_apply_deletes_a_role_whose_only_claim_was_stale(account: Account, cli: Cli) -> None:
    account.claim(never_created_stack("vanished-dms"))

    run = cli("prune", "--apply")

    assert run.status == 0, run
    assert account.iam.list_roles()["Roles"] == []


def test_prune_sees_a_resource_removed_from_a_live_stack(account: Account, cli: Cli) -> None:
    stack = account.create_stack("orders-dms")
    account.claim(stack)
    # The resource left the template (e.g. DeletionPolicy: Retain kept it): the stack lives on.
    account.cloudformation.update_stack(StackName=stack, TemplateBody=template("SomethingElse"))

    run = cli("prune", "--output", "json")

    assert run.status == 1
    assert set(verdicts(run).values()) == {"resource gone from stack"}


def test_prune_leaves_another_accounts_claims_alone(account: Account, cli: Cli) -> None:
    account.claim(never_created_stack("elsewhere-dms").replace("123456789012", "210987654321"))

    run = cli("prune", "--apply", "--output", "json")

    assert run.status == 0, run
    assert set(verdicts(run).values()) == {"other account: not checked"}
    assert all(c["outcome"] is None for c in as_json(run)["claims"])


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


def test_console_script_runs_against_moto_server(account: Account) -> None:
    demo(account)

    done = tool("status", "--endpoint-url", account.server.url, "--output", "json")

    assert done.returncode == 0, done.stderr
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
