"""template.yaml against the code: Runtime, Handler, CodeUri, the settings, the invocation.

What `sam deploy` ships is .aws-sam/build: these tests check that it holds the
current handler/ source, that the Handler imports from it on the Runtime's
Python exactly as the Lambda runtime would import it, and that nothing in it
is compiled for one CPU, so the arm64 function runs the bytes tested here.

The account settings are rows of ``dms_prereq.settings.SETTINGS``: each one with
a template parameter must be that parameter, with the same default, values the
code accepts, and the function's environment variable fed from it. The template
also turns off Lambda's retries of CloudFormation's asynchronous invocations
and schedules the sweep with the event the function routes to it.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from cfnlint.decode import decode
from dms_prereq.errors import InvalidSetting
from dms_prereq.settings import SETTINGS, AccountSettings, Setting
from dms_prereq.telemetry import is_scheduled
from packaging.specifiers import SpecifierSet

from testkit.stack import load_event
from tools.lambda_runtime import ROOT, RUNTIME_PYTHON, FunctionConfig

pytestmark = pytest.mark.runtime

SOURCE_TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def source() -> FunctionConfig:
    return FunctionConfig.from_template(SOURCE_TEMPLATE)


def test_built_template_is_the_source_template_with_the_artifact_as_code(source, built):
    assert built.code_dir == ROOT / ".aws-sam" / "build" / source.logical_id
    assert source.code_dir == ROOT / "handler"
    assert (source.runtime, source.handler, source.architectures) == (
        built.runtime,
        built.handler,
        built.architectures,
    )


def test_runtime_is_the_python_the_code_is_built_and_run_with(source, built):
    version = source.python_version
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{version}.0"), "pyproject.toml excludes the Runtime"
    ran = subprocess.run(
        [str(RUNTIME_PYTHON), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == version
    build_toml = (ROOT / ".aws-sam" / "build.toml").read_text()
    assert f'runtime = "{built.runtime}"' in build_toml


def test_code_uri_holds_the_current_handler_source(source, built):
    sources = [
        p
        for p in source.code_dir.rglob("*.py")
        if "__pycache__" not in p.parts and ".egg-info" not in str(p)
    ]
    assert sources
    for path in sources:
        shipped = built.code_dir / path.relative_to(source.code_dir)
        assert shipped.exists(), f"{shipped} missing: make build"
        assert shipped.read_bytes() == path.read_bytes(), f"{shipped} is stale: make build"


def test_handler_imports_from_the_artifact_on_the_runtime_python(built, tmp_path):
    module, function = built.handler.rsplit(".", 1)
    probe = (
        "import importlib, inspect, json, sys\n"
        f"m = importlib.import_module({module!r})\n"
        f"f = getattr(m, {function!r}, None)\n"
        "print(json.dumps({'file': m.__file__, 'callable': callable(f),\n"
        "    'params': len(inspect.signature(f).parameters) if callable(f) else None,\n"
        "    'version': '%d.%d' % sys.version_info[:2]}))\n"
    )
    ran = subprocess.run(
        # -B: write nothing into the artifact (sam deploy zips that directory).
        [str(RUNTIME_PYTHON), "-B", "-c", probe],
        cwd=built.code_dir,
        env={
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            **built.environment,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    assert Path(found["file"]).parent == built.code_dir
    assert found["callable"], f"{built.handler}: no such function"
    assert found["params"] == 2, "a Lambda handler takes (event, context)"
    assert found["version"] == built.python_version


def test_artifact_is_pure_python_so_arm64_runs_what_was_tested(built):
    assert built.architectures == ("arm64",)
    compiled = [p for p in built.code_dir.rglob("*") if p.suffix in (".so", ".pyd", ".dylib")]
    assert compiled == [], "compiled code differs between arm64 and this machine"
    for wheel in built.code_dir.glob("*.dist-info/WHEEL"):
        text = wheel.read_text()
        assert "Root-Is-Purelib: true" in text, wheel
        assert re.search(r"^Tag: py[0-9.]*-none-any$", text, re.MULTILINE), wheel


def test_artifact_ships_the_pinned_dependencies(built):
    pins = dict(
        re.findall(
            r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "handler" / "requirements.txt").read_text(), re.M
        )
    )
    shipped = dict(
        d.name.removesuffix(".dist-info").rsplit("-", 1) for d in built.code_dir.glob("*.dist-info")
    )
    shipped = {_normalise(name): version for name, version in shipped.items()}
    assert pins
    for name, version in pins.items():
        assert shipped.get(_normalise(name)) == version, f"{name}=={version} not in the artifact"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- the account settings, the invocation, the schedule -----------------------------------
@pytest.fixture(scope="module")
def template() -> dict:
    body, problems = decode(str(SOURCE_TEMPLATE))
    assert not problems, problems
    return body


def _function(template: dict) -> dict:
    return template["Resources"]["Function"]["Properties"]


#: Values tried against each parameter's AllowedPattern or AllowedValues: whatever the
#: template lets through, the code must accept (and the defaults in SETTINGS must pass).
CANDIDATES = [
    "",
    "0",
    "1",
    "239",
    "240",
    "999",
    "1440",
    "10000000",
    "Never",
    "never",
    "true",
    "false",
    "TRUE",
    "none",
    "arn:aws:iam::123456789012:policy/dms-boundary",
    "arn:aws-cn:iam::aws:policy/PowerUserAccess",
    "arn:aws:iam::123456789012:role/not-a-policy",
    "team=data",
    "us-east-1,eu-west-1",
]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.variable)
def test_each_account_setting_is_its_template_parameter(setting: Setting, template, source):
    variables = _function(template)["Environment"]["Variables"]
    if setting.parameter is None:
        # Tests and demos only: the deployed function runs the code's default.
        assert setting.variable not in variables
        assert setting.variable not in source.environment
        return
    parameter = template["Parameters"][setting.parameter]
    assert str(parameter["Default"]) == setting.default
    given = variables[setting.variable]
    if parameter["Type"] == "CommaDelimitedList":
        # A list parameter reaches the function as the string the code splits again.
        assert given == {"Fn::Join": [",", {"Ref": setting.parameter}]}
    else:
        assert given == {"Ref": setting.parameter}
    # As deployed with every default, the function reads the code's default value.
    assert source.environment[setting.variable] == setting.default
    assert setting.read(source.environment) == setting.default_value
    allowed = [str(v) for v in parameter.get("AllowedValues", [])]
    pattern = parameter.get("AllowedPattern")
    for value in allowed:
        setting.parse(value)
    if pattern is not None:
        assert re.fullmatch(pattern, setting.default)
        for value in CANDIDATES:
            if re.fullmatch(pattern, value):
                try:
                    setting.parse(value)
                except InvalidSetting as refused:
                    pytest.fail(
                        f"{setting.parameter} allows {value!r}, the code refuses: {refused}"
                    )


def test_the_deployed_defaults_are_the_codes_defaults(source):
    assert AccountSettings.from_environment(source.environment) == AccountSettings()


def test_every_settings_parameter_is_a_row_of_the_code(template):
    rows = {s.parameter for s in SETTINGS if s.parameter}
    # Parameters of the deployment itself, not settings the function reads.
    assert set(template["Parameters"]) - rows == {
        "LogRetentionInDays",
        "LogLevel",
        "SweepSchedule",
        "ExportName",
    }


def test_lambdas_retries_of_requests_are_off_and_old_events_dropped(template):
    config = _function(template)["EventInvokeConfig"]
    # Every request is answered before the timeout, so a retry could only replay an old one.
    assert config["MaximumRetryAttempts"] == 0
    # Bounded below Lambda's default of six hours (21600 s, its maximum).
    assert 60 <= config["MaximumEventAgeInSeconds"] < 21600


def test_the_sweep_is_scheduled_by_its_parameter_with_the_event_the_function_routes(template):
    parameter = template["Parameters"]["SweepSchedule"]
    assert parameter["Default"] == "rate(1 hour)"
    assert template["Conditions"]["SweepEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SweepSchedule"}, "none"]}]
    }
    schedules = [
        event["Properties"]
        for event in _function(template)["Events"].values()
        if event["Type"] == "Schedule"
    ]
    assert len(schedules) == 1
    (schedule,) = schedules
    assert schedule["Schedule"]["Fn::If"][:2] == ["SweepEnabled", {"Ref": "SweepSchedule"}]
    assert schedule["Enabled"] == {"Fn::If": ["SweepEnabled", True, False]}
    # What EventBridge delivers on that schedule is what the function takes for the sweep.
    assert is_scheduled(load_event("scheduled"))
    assert not is_scheduled(load_event("create"))


def test_export_name_is_a_parameter(template):
    assert template["Parameters"]["ExportName"]["Default"] == "dms-prerequisite-roles-ServiceToken"
    assert template["Outputs"]["ServiceToken"]["Export"]["Name"] == {"Ref": "ExportName"}
