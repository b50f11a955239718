"""Every command line a reader can copy from README.md and docs/ works, or says why it is not run.

The commands are found by :mod:`tests.docs.markdown`. Those this module can run
against the local stand-ins, it runs as written (through the shell, from the
repository root, with ``<placeholders>`` filled in and ``[optional]`` parts
tried both ways):

* ``dms-prereq-roles ...`` (also ``.venv/bin/...`` and ``python -m
  dms_prereq_cli``) against moto_server (IAM, STS, Lambda, EC2) and the
  CloudFormation and DMS stand-ins, in an account with the function deployed,
  shared roles and one stale claim;
* ``sam package ...`` in a copy of the application, uploading to moto_server's S3;
* ``sam validate --lint`` and ``make help``.

Every other one is listed in ``not_run.toml`` with the reason; for a ``make``
command there the target and its variables must still exist.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from testkit.cfn_api import CloudFormationApi
from testkit.dms_api import DmsApi
from testkit.local_aws import MotoServer
from tests.docs.markdown import ROOT, fences, session_commands, unique_commands
from tests.operate.scenario import DEPLOYMENT_STACK_NAME, Account, demo, never_created_stack

pytestmark = pytest.mark.e2e

NOT_RUN_FILE = Path(__file__).with_name("not_run.toml")
NOT_RUN: dict[str, str] = {
    entry["line"]: entry["reason"] for entry in tomllib.loads(NOT_RUN_FILE.read_text())["command"]
}
DOCUMENTED = unique_commands()
VENV_BIN = Path(sys.executable).parent
SAM = ROOT / ".venv-sam" / "bin" / "sam"
MAKEFILES = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
#: Values for the placeholders the docs write as <name>.
PLACEHOLDERS = {"member": "member", "id": "0a1b2c3d-4e5f"}
#: The stack instance a StackSet makes in an account (docs/operations.md, the rollout).
STACKSET_INSTANCE = f"StackSet-dms-prerequisite-roles-{PLACEHOLDERS['id']}"
#: What the docs' shell variables stand for when a command is run here.
SHELL_VARIABLES = {"BUCKET": "my-org-dms-artifacts-eu-west-1", "REGION": "eu-west-1"}
REGION = "us-east-1"


def runner_of(command: str) -> str | None:
    """Which test here runs a documented command; None when none does."""
    words = command.split()
    if re.search(r"(^|/)dms-prereq-roles$", words[0]) or words[:3] == [
        "python",
        "-m",
        "dms_prereq_cli",
    ]:
        return "cli"
    if words[:2] == ["sam", "package"]:
        return "sam package"
    if command == "sam validate --lint":
        return "sam validate"
    if command == "make help":
        return "make help"
    return None


def variants(command: str) -> list[str]:
    """The command with each ``[optional part]`` left out and put in, placeholders filled."""
    found = [command]
    while any("[" in c for c in found):
        expanded = []
        for candidate in found:
            optional = re.search(r"\s*\[([^\]]+)\]", candidate)
            if optional is None:
                expanded.append(candidate)
                continue
            head, tail = candidate[: optional.start()], candidate[optional.end() :]
            expanded += [head + tail, f"{head} {optional.group(1)}{tail}"]
        found = expanded

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in PLACEHOLDERS, f"no value for <{name}>: add one to PLACEHOLDERS"
        return PLACEHOLDERS[name]

    return [re.sub(r"<([a-z-]+)>", fill, c) for c in found]


def by_runner(runner: str) -> list[str]:
    return [variant for c in DOCUMENTED if runner_of(c) == runner for variant in variants(c)]


# -- the inventory ----------------------------------------------------------------------------


def test_the_docs_hold_commands_of_every_kind() -> None:
    runners = {runner_of(c) for c in DOCUMENTED}

    assert {"cli", "sam package", "sam validate", "make help"} <= runners
    assert len(DOCUMENTED) > 20


def test_every_documented_command_is_run_or_excused() -> None:
    orphans = [
        f"{places[0]}: {command}"
        for command, places in DOCUMENTED.items()
        if runner_of(command) is None and command not in NOT_RUN
    ]

    assert orphans == [], f"run these in {__name__} or list them in {NOT_RUN_FILE.name}"


def test_no_command_is_both_run_and_excused() -> None:
    assert [c for c in NOT_RUN if runner_of(c)] == []


def test_every_excuse_is_for_a_command_the_docs_still_hold() -> None:
    assert sorted(set(NOT_RUN) - set(DOCUMENTED)) == []


def test_every_excuse_gives_a_reason_and_names_only_tests_that_exist() -> None:
    for command, reason in NOT_RUN.items():
        assert len(reason.split()) >= 3, command
        for named in re.findall(r"\btests/[\w/]+(?:\.py)?", reason):
            assert (ROOT / named).exists(), f"{command}: {named} does not exist"


def make_targets() -> set[str]:
    targets: set[str] = set()
    for makefile in MAKEFILES:
        for line in makefile.read_text().splitlines():
            rule = re.match(r"^([A-Za-z0-9_.$()/ -]+?)\s*:(?!=)", line)
            if rule and not line.startswith(("\t", "#")):
                targets.update(rule.group(1).split())
    return targets


@pytest.fixture(scope="module")
def make_help() -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", [c for c in NOT_RUN if " make " in f" {c} "])
def test_excused_make_commands_name_targets_and_variables_that_exist(
    command: str, make_help: str
) -> None:
    makefiles = "\n".join(m.read_text() for m in MAKEFILES)
    for variant in variants(command):
        words = shlex.split(variant)
        for word in words[words.index("make") + 1 :]:
            if "=" in word:
                variable = word.split("=", 1)[0]
                assert f"$({variable})" in makefiles, f"{command}: make never reads {variable}"
            elif not word.startswith("-"):
                assert word in make_targets(), f"{command}: no target {word}"
                assert f"make {word} " in make_help, f"{command}: `make help` omits {word}"


def test_make_help_runs_as_documented(make_help: str) -> None:
    assert make_help.splitlines()[0].startswith("usage: make")


# -- dms-prereq-roles, against moto_server ----------------------------------------------------


@pytest.fixture
def empty_account(moto_server: MotoServer, cfn_api: CloudFormationApi, dms_api: DmsApi) -> Account:
    """The account with the function deployed, and nothing else."""
    account = Account(moto_server, cfn_api, dms_api)
    account.clear()
    account.deploy(stacks=(DEPLOYMENT_STACK_NAME, STACKSET_INSTANCE))
    return account


@pytest.fixture
def account(empty_account: Account) -> Account:
    """Two live stacks sharing the roles beside a console-made one, and a stale claim."""
    demo(empty_account)
    empty_account.claim(never_created_stack("retired-dms"))
    return empty_account


def aws_env(endpoints: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The environment an operator's shell would have, its AWS calls sent to ``endpoints``."""
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text(f"[default]\nregion = {REGION}\n[profile member]\nregion = {REGION}\n")
    credentials.write_text(
        "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        "[member]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name != "SSL_CERT_FILE"
    }
    return env | {
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        **endpoints,
        **SHELL_VARIABLES,
    }


def shell(command: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("command", by_runner("cli"))
def test_documented_cli_command_runs(command: str, account: Account, tmp_path: Path) -> None:
    done = shell(command, aws_env(account.env(), tmp_path))

    # 0: all is well, 1: it found a problem (the stale claim); 2 would be an error.
    assert done.returncode in (0, 1), done.stderr
    assert "error" not in done.stderr.lower() and "Traceback" not in done.stderr
    assert done.stdout.strip()


def sessions() -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """(where, [(command, documented output), ...]) of each block of ``$ dms-prereq-roles``."""
    found = []
    for page in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for fence in fences(page):
            steps = [(c, out) for _, c, out in session_commands(fence) if runner_of(c) == "cli"]
            if steps:
                found.append((fence.where, steps))
    return found


def prune_scenario(account: Account) -> None:
    """The samples of `prune`: billing-dms deleted behind the function's back, retired-dms gone
    (a stack CloudFormation no longer knows)."""
    stacks = demo(account)
    account.claim(never_created_stack("retired-dms"))
    account.delete_stack(stacks["billing-dms"])


#: The account each sample was taken in, by the command's subcommand.
SAMPLE_ACCOUNTS = {"status": demo, "check-policies": demo, "prune": prune_scenario}


def in_order(expected: list[str], actual: list[str]) -> list[str]:
    """The expected lines missing from ``actual`` (in order; "…" stands for lines left out)."""
    remaining = iter(actual)
    return [line for line in expected if line not in remaining]


@pytest.mark.parametrize(("where", "steps"), sessions(), ids=[w for w, _ in sessions()])
def test_documented_cli_samples_are_what_the_tool_prints(
    where: str,
    steps: list[tuple[str, list[str]]],
    empty_account: Account,
    tmp_path: Path,
) -> None:
    SAMPLE_ACCOUNTS[steps[0][0].split()[1]](empty_account)
    env = aws_env(empty_account.env(), tmp_path)

    for command, documented in steps:
        done = shell(command, env)

        actual = [line.rstrip() for line in done.stdout.splitlines()]
        expected = [line.rstrip() for line in documented if line.strip() not in ("", "…")]
        assert in_order(expected, actual) == [], f"{where}: `{command}` prints otherwise"


# -- sam, against moto_server's S3 ------------------------------------------------------------

needs_sam = pytest.mark.skipif(
    not SAM.exists(), reason="the SAM CLI is not installed: `make sam-validate` installs it"
)


@needs_sam
@pytest.mark.parametrize("command", by_runner("sam package"))
def test_documented_sam_package_runs_against_s3(
    command: str, moto_server: MotoServer, tmp_path: Path
) -> None:
    """As in the docs, from a copy of the application: samconfig.toml must not get in the way."""
    app = tmp_path / "app"
    app.mkdir()
    for name in ("template.yaml", "samconfig.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, app / name)
    shutil.copytree(ROOT / "handler", app / "handler", ignore=shutil.ignore_patterns("__pycache__"))
    s3 = boto3.client(
        "s3",
        region_name=SHELL_VARIABLES["REGION"],
        endpoint_url=moto_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # A bucket of its own: moto_server lives for the whole session.
    bucket = f"{SHELL_VARIABLES['BUCKET']}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": SHELL_VARIABLES["REGION"]},
    )
    env = aws_env({"AWS_ENDPOINT_URL": moto_server.url}, tmp_path) | {
        "PATH": f"{SAM.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "BUCKET": bucket,
    }

    done = shell(command, env, cwd=app)

    assert done.returncode == 0, done.stderr
    packaged = yaml.safe_load((app / "packaged.yaml").read_text().replace("!", ""))
    code = packaged["Resources"]["Function"]["Properties"]["CodeUri"]
    assert code.startswith(f"s3://{bucket}/")
    uploaded = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert code.removeprefix(f"s3://{bucket}/") in uploaded


@needs_sam
def test_documented_sam_validate_runs() -> None:
    (command,) = by_runner("sam validate")
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")} | {
        "PATH": f"{SAM.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
    }

    done = shell(command, env)

    assert done.returncode == 0, done.stdout + done.stderr
