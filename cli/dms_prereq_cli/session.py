"""AWS clients for the command-line tool, and the one place AWS errors become a message.

IAM is global, so one IAM client serves every role. CloudFormation is
regional: a claim names its stack by ARN, and the stack is looked up in the
region that ARN names, whatever ``--region`` says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from dms_prereq.errors import ProvisioningError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient as IAMClient
else:
    IAMClient: TypeAlias = Any
#: boto3's CloudFormation client (its type stubs are not a dependency of this project).
CloudFormationClient: TypeAlias = Any

#: Fewer tries than the function makes: a person is waiting, and a wrong
#: --endpoint-url should fail in seconds, not minutes.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=20
)


class CliError(Exception):
    """A usage or AWS problem that ends the command with exit status 2."""


@dataclass
class Aws:
    """A boto3 session and the clients made from it, made on first use."""

    session: boto3.Session
    endpoint_url: str | None = None
    _iam: IAMClient | None = field(default=None, init=False, repr=False)
    _cloudformation: dict[str, CloudFormationClient] = field(
        default_factory=dict, init=False, repr=False
    )

    @classmethod
    def connect(cls, profile: str | None, region: str | None, endpoint_url: str | None) -> Aws:
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except BotoCoreError as error:
            raise CliError(str(error)) from error
        return cls(session=session, endpoint_url=endpoint_url)

    @property
    def partition(self) -> str:
        """The partition of the session's region; ``aws`` when no region is set."""
        region = self.session.region_name
        if not region:
            return "aws"
        try:
            return str(self.session.get_partition_for_region(region))
        except BotoCoreError as error:
            raise CliError(str(error)) from error

    def iam(self) -> IAMClient:
        if self._iam is None:
            self._iam = self.session.client(
                "iam", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG
            )
        return self._iam

    def cloudformation(self, region: str) -> CloudFormationClient:
        if region not in self._cloudformation:
            self._cloudformation[region] = self.session.client(
                "cloudformation",
                region_name=region,
                endpoint_url=self.endpoint_url,
                config=CLIENT_CONFIG,
            )
        return self._cloudformation[region]


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def describe(error: BaseException) -> str:
    """One line saying what went wrong with an AWS call.

    The handler's translated errors speak to a stack author ("the function's
    execution role..."); here the caller is a person, so we show AWS's own words.
    """
    cause = error.__cause__ if isinstance(error, ProvisioningError) else None
    if isinstance(cause, ClientError | BotoCoreError):
        error = cause
    return " ".join(str(error).split())
