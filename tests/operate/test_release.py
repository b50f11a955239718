"""What publishing needs: one version everywhere, valid SAR metadata, a CLI outside the artifact."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import dms_prereq
import pytest
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]


def sar_metadata() -> dict[str, Any]:
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    metadata: dict[str, Any] = template["Metadata"]["AWS::ServerlessRepo::Application"]
    return metadata


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_one_version_everywhere(pyproject: dict[str, Any]) -> None:
    assert sar_metadata()["SemanticVersion"] == pyproject["project"]["version"]
    assert dms_prereq.__version__ == pyproject["project"]["version"]


def test_serverless_repo_metadata_meets_the_repository_rules(pyproject: dict[str, Any]) -> None:
    # The limits the Serverless Application Repository documents for each field.
    meta = sar_metadata()
    assert re.fullmatch(r"[a-zA-Z0-9\-]{1,140}", meta["Name"])
    assert re.fullmatch(r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", meta["Author"])
    assert 1 <= len(meta["Description"]) <= 256
    assert len(meta["Labels"]) <= 10
    assert all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label) for label in meta["Labels"])
    license = pyproject["project"]["license"]
    assert meta["SpdxLicenseId"] == (license if isinstance(license, str) else license["text"])
    assert (ROOT / meta["LicenseUrl"]).read_text().startswith("MIT No Attribution")
    assert (ROOT / meta["ReadmeUrl"]).is_file()


def test_the_command_line_is_a_console_script_outside_the_lambda_artifact(
    pyproject: dict[str, Any],
) -> None:
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    code_uri = Path(template["Resources"]["Function"]["Properties"]["CodeUri"])
    package_dir = pyproject["tool"]["setuptools"]["package-dir"]

    assert pyproject["project"]["scripts"]["dms-prereq-roles"] == "dms_prereq_cli.main:run"
    assert not (ROOT / package_dir["dms_prereq_cli"]).resolve().is_relative_to(ROOT / code_uri)
    assert not list((ROOT / code_uri).rglob("dms_prereq_cli"))


def test_the_function_never_imports_the_command_line_or_its_table_library() -> None:
    for source in (ROOT / "handler").rglob("*.py"):
        tree = ast.parse(source.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not imported & {"dms_prereq_cli", "rich"}, source
