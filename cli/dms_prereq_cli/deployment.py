"""The deployment's account settings, read where the function itself reads them.

``status`` and ``prune`` run the function's own sweep (:mod:`dms_prereq.sweep`),
which decides by the account settings: how long an unclaimed role stays, where
DMS is asked, which tags and boundary the roles this project created carry.
Those are environment variables of the deployed function, one row each in
:mod:`dms_prereq.settings`, so the tool reads them from that function's
configuration (``lambda:GetFunctionConfiguration``) rather than guessing:
a sweep run here with other settings would undo what the deployment's sweep
does (strip the RoleTags tags, or delete a role the deployment keeps Never).

Which function:

1. ``--function NAME|ARN``;
2. otherwise the ``Function`` resource of the deployment stack ``--stack``
   (default ``dms-prerequisite-roles``, the name ``sam deploy`` uses), asked
   with ``cloudformation:DescribeStackResource`` in the session's region;
3. when that stack does not exist, none: the settings then come from this
   shell's environment, by the same variable names (unset ones take the
   template's defaults), and the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError
from dms_prereq.settings import NEVER, AccountSettings

from .session import Aws, CliError, describe, error_code

#: The stack name `sam deploy` uses for this application (samconfig.toml).
DEFAULT_STACK = "dms-prerequisite-roles"
#: The function's logical id in template.yaml.
FUNCTION_LOGICAL_ID = "Function"


@dataclass(frozen=True)
class Deployment:
    """The settings a sweep run from here uses, and where they came from."""

    settings: AccountSettings
    #: The function whose environment they were read from; None when none was found.
    function_arn: str | None
    #: Why no function was found (the settings then come from this shell); None if found.
    missing: str | None = None
    #: What ``--retention`` changed, for the report.
    overridden: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        if self.function_arn:
            return f"the environment of {self.function_arn}"
        return "this shell's environment (template defaults where unset)"

    def with_retention(self, minutes: int | None) -> Deployment:
        return replace(
            self,
            settings=replace(self.settings, retention_minutes=minutes),
            overridden=(*self.overridden, "retention"),
        )

    def notes(self) -> list[str]:
        found = [f"settings: from {self.source}."]
        if self.missing:
            found.append(
                f"no deployment found ({self.missing}); give --function or --stack to use its "
                "settings."
            )
        if "retention" in self.overridden:
            found.append(
                f"retention: {retention_text(self.settings.retention_minutes)} (--retention)."
            )
        return found

    def as_json(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "source": self.source,
            "function_arn": self.function_arn,
            "retention_minutes": settings.retention_minutes,
            "retention_overridden": "retention" in self.overridden,
            "dms_regions": list(settings.dms_regions) if settings.dms_regions else None,
            "sweep_settle_seconds": settings.sweep_settle_seconds,
            "role_tags": dict(settings.tags),
            "permissions_boundary": settings.boundary.arn
            or ("none" if settings.boundary.remove else None),
        }


def retention_text(minutes: int | None) -> str:
    return NEVER if minutes is None else f"{minutes} minutes"


def _function_of_stack(aws: Aws, stack: str, region: str) -> tuple[str | None, str | None]:
    """(function name, None), or (None, why) when the stack or its function does not exist."""
    try:
        detail = aws.cloudformation(region).describe_stack_resource(
            StackName=stack, LogicalResourceId=FUNCTION_LOGICAL_ID
        )["StackResourceDetail"]
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in describe(error):
            return None, f"no stack {stack} with a {FUNCTION_LOGICAL_ID} in {region}"
        raise CliError(
            f"cannot look up the deployment stack {stack}: {describe(error)}; give --function"
        ) from error
    name = detail.get("PhysicalResourceId")
    if not name:
        return None, f"stack {stack} has no {FUNCTION_LOGICAL_ID} yet"
    return str(name), None


def _environment(aws: Aws, function: str, region: str) -> tuple[str, Mapping[str, str]]:
    """The function's ARN and environment variables."""
    if function.startswith("arn:"):
        region = function.split(":")[3] or region
    try:
        configuration = aws.lambda_(region).get_function_configuration(FunctionName=function)
    except ClientError as error:
        raise CliError(
            f"cannot read the settings of the function {function}: {describe(error)}"
        ) from error
    variables = configuration.get("Environment", {}).get("Variables", {})
    return str(configuration["FunctionArn"]), dict(variables)


def find(aws: Aws, *, function: str | None, stack: str, environ: Mapping[str, str]) -> Deployment:
    """The deployment's settings (see the module docstring for where they come from).

    Raises CliError when a function was named or found but cannot be read, and
    InvalidSetting when its settings are invalid.
    """
    region = aws.require_region()
    missing = None
    if function is None:
        function, missing = _function_of_stack(aws, stack, region)
    if function is None:
        return Deployment(AccountSettings.from_environment(environ), None, missing)
    arn, variables = _environment(aws, function, region)
    return Deployment(AccountSettings.from_environment(variables), arn)
