"""The function as Lambda would configure it, read from a SAM template.

:class:`FunctionConfig` holds what the local runtime (:mod:`tools.lambda_runtime`)
needs of one ``AWS::Serverless::Function``: Handler, Runtime, Architectures,
MemorySize, Timeout, environment variables and LoggingConfig, with the
template's Globals merged in, ``!Ref`` to a parameter resolved to its default
and ``!Join`` over such values. The default template is the built one
(``.aws-sam/build``), whose CodeUri is the artifact ``sam deploy`` ships.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import decode  # type: ignore[import-untyped]

from testkit import REGION

ROOT = Path(__file__).resolve().parent.parent
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
BUILD_HINT = "run `make build runtime-venv` first"


@dataclass(frozen=True)
class FunctionConfig:
    """One AWS::Serverless::Function of a template, as Lambda would configure it."""

    logical_id: str
    code_dir: Path
    handler: str
    runtime: str
    architectures: tuple[str, ...]
    memory_mb: int
    timeout_seconds: float
    environment: dict[str, str]
    log_format: str
    application_log_level: str | None

    @property
    def python_version(self) -> str:
        """``3.13`` for ``python3.13``."""
        match = re.fullmatch(r"python(\d+\.\d+)", self.runtime)
        if not match:
            raise ValueError(f"{self.logical_id}: Runtime {self.runtime!r} is not a Python runtime")
        return match[1]

    @property
    def handler_file(self) -> str:
        """The module file the Handler names, relative to the code directory."""
        module = self.handler.rsplit(".", 1)[0]
        return module.replace(".", "/") + ".py"

    @classmethod
    def from_template(
        cls,
        template: Path = BUILT_TEMPLATE,
        logical_id: str = "Function",
        region: str = REGION,
    ) -> FunctionConfig:
        """Read the function from a SAM template (Globals merged in, parameters at their defaults).

        The default is the built template: its CodeUri is the built artifact.
        """
        if not template.exists():
            raise FileNotFoundError(f"{template} does not exist: {BUILD_HINT}")
        body, problems = decode(str(template))
        if problems or not isinstance(body, dict):
            detail = problems[0].message if problems else "not a mapping"
            raise ValueError(f"{template}: cannot read it ({detail})")
        resource = body.get("Resources", {}).get(logical_id)
        if not resource or resource.get("Type") != "AWS::Serverless::Function":
            raise ValueError(f"{template}: no AWS::Serverless::Function named {logical_id}")
        defaults = body.get("Globals", {}).get("Function", {})
        props = {**defaults, **resource.get("Properties", {})}
        parameters = body.get("Parameters", {})
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        logging_config = props.get("LoggingConfig", {})
        level = logging_config.get("ApplicationLogLevel")
        return cls(
            logical_id=logical_id,
            code_dir=(template.parent / str(props["CodeUri"])).resolve(),
            handler=str(props["Handler"]),
            runtime=str(props["Runtime"]),
            architectures=tuple(str(a) for a in props.get("Architectures", ["x86_64"])),
            # Lambda's defaults when the template says nothing.
            memory_mb=int(props.get("MemorySize", 128)),
            timeout_seconds=float(props.get("Timeout", 3)),
            environment={str(k): _resolve(v, parameters, region, k) for k, v in variables.items()},
            log_format=str(logging_config.get("LogFormat", "Text")),
            application_log_level=_resolve(level, parameters, region, "level") if level else None,
        )


def _resolve(value: Any, parameters: Mapping[str, Any], region: str, what: object) -> str:
    """A template value as the string Lambda would put in the environment."""
    resolved = _value(value, parameters, region, what)
    if isinstance(resolved, list):
        raise ValueError(f"{what}: {value!r} is a list; an environment variable holds a string")
    return resolved


def _value(value: Any, parameters: Mapping[str, Any], region: str, what: object) -> str | list[str]:
    """A string, or a list for a list parameter (CommaDelimitedList, List<...>).

    Only what the template uses has a local value: ``Ref`` to AWS::Region or to a
    parameter's default, and ``Fn::Join`` over those (DmsRegions, a
    CommaDelimitedList, reaches the function joined with commas).
    """
    if isinstance(value, dict) and list(value) == ["Ref"]:
        name = value["Ref"]
        if name == "AWS::Region":
            return region
        parameter = parameters.get(name, {})
        if "Default" in parameter:
            default = _value(parameter["Default"], parameters, region, what)
            kind = str(parameter.get("Type", "String"))
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                # CloudFormation splits a list parameter's value at its commas
                # ("Parameters", CloudFormation user guide); "" is the list [""].
                return default.split(",") if isinstance(default, str) else default
            return default
    if isinstance(value, dict) and list(value) == ["Fn::Join"]:
        delimiter, items = value["Fn::Join"]
        parts = _value(items, parameters, region, what)
        if not isinstance(parts, list):
            raise ValueError(f"{what}: Fn::Join needs a list, got {items!r}")
        return str(delimiter).join(parts)
    if isinstance(value, list):
        resolved = [_value(item, parameters, region, what) for item in value]
        if any(isinstance(item, list) for item in resolved):
            raise ValueError(f"{what}: {value!r} nests a list")
        return [str(item) for item in resolved]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(
        f"{what}: {value!r} has no local value (only Ref to a parameter default, Fn::Join)"
    )
