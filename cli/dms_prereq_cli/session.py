"""AWS clients for the command-line tool, and the one place AWS errors become a message.

IAM is global, so one IAM client serves every role. CloudFormation and DMS are
regional: a claim names its stack by ARN, and the stack is looked up in the
region that ARN names, whatever ``--region`` says; DMS is asked in every region
the sweep covers. The sweep's code asks for clients from several threads at
once, so they are made under a lock (making a boto3 client is not thread-safe).

Endpoints follow boto3's own resolution: ``--endpoint-url`` sends every call to
one place; otherwise the standard ``AWS_ENDPOINT_URL_<SERVICE>`` and
``AWS_ENDPOINT_URL`` variables apply, service by service.

Whatever goes wrong between the tool and its endpoint ends as a
:class:`CliError` or an error :func:`describe` can put in one line: a
malformed ``--endpoint-url``, and an endpoint that answers but is not AWS (a
web page, a proxy's error page), are caught here rather than surfacing as
botocore's parser errors or a missing key deep inside a command.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from dms_prereq.errors import ProvisioningError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient as IAMClient
else:
    IAMClient: TypeAlias = Any
#: boto3's CloudFormation client (its type stubs are not a dependency of this project).
CloudFormationClient: TypeAlias = Any
#: Any other boto3 client (STS, Lambda, DMS, EC2): untyped for the same reason.
Client: TypeAlias = Any

#: Fewer tries than the function makes: a person is waiting, and a wrong
#: --endpoint-url should fail in seconds, not minutes.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=20
)


class CliError(Exception):
    """A usage or AWS problem that ends the command with exit status 2."""


class NotAwsAnswer(CliError):
    """The endpoint answered, but not as AWS does: it is not an AWS endpoint."""


#: Every error that means "the tool could not talk to AWS"; each one is reported
#: in one line with exit status 2. ResponseParserError is not a BotoCoreError.
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError, ProvisioningError)

#: The first element of an XML document, after an optional declaration.
_FIRST_ELEMENT = re.compile(rb"\A\s*(?:<\?xml[^>]*\?>\s*)?<([A-Za-z_][\w.:-]*)")
#: Root elements of the errors AWS's query protocol answers (IAM, STS, CloudFormation).
_QUERY_ERROR_ROOTS = frozenset({"ErrorResponse", "Response", "Error"})


def check_endpoint_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) URL with a host; CliError naming it otherwise.

    botocore would refuse it only when the first client is made, with a
    ValueError and no hint of which option was wrong.
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        usable = False
    if not usable:
        raise CliError(
            f"--endpoint-url {url!r} is not a URL the tool can use; give one such as "
            "https://iam.amazonaws.com or http://127.0.0.1:5000"
        )
    return url


def _root_element(body: bytes) -> str | None:
    found = _FIRST_ELEMENT.match(body)
    return found.group(1).decode().rpartition(":")[2] if found else None


def refuse_foreign_answers(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` hook: stop at an answer no AWS query API would give.

    Both services the tool calls speak AWS's query protocol: a success is an
    XML document whose root is ``<Operation>Response``, an error one whose root
    is ``ErrorResponse``. Anything else (an HTML page with status 200, a JSON
    body) would otherwise parse into an empty result, or into botocore's
    ResponseParserError, and end in a traceback. Server errors (5xx) are left
    to botocore, which retries them.
    """
    if operation_model.metadata.get("protocol") != "query":
        return
    status = int(response_dict.get("status_code", 0))
    if status >= 500:
        return
    root = _root_element(response_dict.get("body") or b"")
    expected = {f"{operation_model.name}Response"} if status < 300 else _QUERY_ERROR_ROOTS
    if root in expected:
        return
    headers = response_dict.get("headers") or {}
    content_type = str(headers.get("content-type") or headers.get("Content-Type") or "no type")
    service = operation_model.service_model.service_id
    raise NotAwsAnswer(
        f"the {service} endpoint answered {operation_model.name} with HTTP {status} "
        f"({content_type.split(';')[0]}), which is not an AWS answer; check --endpoint-url "
        "(or AWS_ENDPOINT_URL) and the proxy settings"
    )


@dataclass
class Aws:
    """A boto3 session and the clients made from it, made on first use, once each."""

    session: boto3.Session
    endpoint_url: str | None = None
    _made: dict[tuple[str, str | None], Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def connect(cls, profile: str | None, region: str | None, endpoint_url: str | None) -> Aws:
        endpoint_url = check_endpoint_url(endpoint_url)
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except BotoCoreError as error:
            raise CliError(str(error)) from error
        return cls(session=session, endpoint_url=endpoint_url)

    def _client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._made:
                self._made[key] = self._new_client(service, region)
            return self._made[key]

    def _new_client(self, service: str, region: str | None) -> Any:
        try:
            client = self.session.client(
                service,  # type: ignore[call-overload]  # boto3-stubs type each service by name
                region_name=region,
                endpoint_url=self.endpoint_url,
                config=CLIENT_CONFIG,
            )
        except ValueError as error:
            # An endpoint from the environment or the profile (AWS_ENDPOINT_URL,
            # endpoint_url in ~/.aws/config) that botocore cannot use.
            raise CliError(f"cannot make the {service} client: {error}") from error
        except BotoCoreError as error:
            raise CliError(describe(error)) from error
        client.meta.events.register("before-parse", refuse_foreign_answers)
        return client

    @property
    def region(self) -> str | None:
        """The session's region (``--region``, AWS_REGION, the profile), if any."""
        return self.session.region_name

    def require_region(self) -> str:
        """The session's region; CliError when none is set (CloudFormation and DMS need one)."""
        if not self.region:
            raise CliError(
                "no Region: give --region, set AWS_REGION, or set one in the profile "
                "(the deployment, CloudFormation and DMS are regional)"
            )
        return self.region

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
        client: IAMClient = self._client("iam")
        return client

    def cloudformation(self, region: str) -> CloudFormationClient:
        return self._client("cloudformation", region)

    def dms(self, region: str) -> Client:
        return self._client("dms", region)

    def ec2(self) -> Client:
        return self._client("ec2", self.require_region())

    def sts(self) -> Client:
        return self._client("sts", self.require_region())

    def lambda_(self, region: str) -> Client:
        return self._client("lambda", region)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _no_aws_code(error: ClientError) -> bool:
    """botocore's stand-ins when an error body carries no code: the HTTP status, or Unknown."""
    code = error_code(error)
    return not code or code.isdigit() or code == "Unknown"


def describe(error: BaseException) -> str:
    """One line saying what went wrong with an AWS call.

    The handler's translated errors speak to a stack author ("the function's
    execution role..."); here the caller is a person, so we show AWS's own words.
    """
    cause = error.__cause__ if isinstance(error, ProvisioningError) else None
    if isinstance(cause, ClientError | BotoCoreError | ResponseParserError):
        error = cause
    if isinstance(error, ResponseParserError):
        # Its text quotes the whole body it could not parse (a web page, say).
        return "the endpoint's answer could not be read as an AWS answer; check --endpoint-url"
    if isinstance(error, ClientError) and _no_aws_code(error):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return (
            f"the endpoint answered HTTP {status} without an AWS error code; check --endpoint-url"
        )
    return " ".join(str(error).split())
