"""template.yaml's Runtime, Handler and CodeUri against the code and the built artifact.

What `sam deploy` ships is .aws-sam/build: these tests check that it holds the
current handler/ source, that the Handler imports from it on the Runtime's
Python exactly as the Lambda runtime would import it, and that nothing in it
is compiled for one CPU, so the arm64 function runs the bytes tested here.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

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
