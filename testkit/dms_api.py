"""``DmsApi``: a loopback proxy in front of moto_server's DMS that adds what moto lacks.

Before the sweep deletes a role it asks DMS, in every region, what uses it
(:mod:`dms_prereq.dms_usage`): DescribeReplicationInstances,
DescribeReplicationSubnetGroups, DescribeEndpoints and DescribeReplicationConfigs,
each paged with ``Marker``. moto 5.2 serves the first three and answers the last with
an HTML 500, so this proxy

* answers ``DescribeReplicationConfigs`` itself, from a registry tests fill per region
  (:meth:`DmsApi.add_replication_config`), in pages of ``page_size`` with ``Marker``;
* forwards every other call to moto_server unchanged (moto tells services and regions
  apart by the SigV4 credential scope, which the forwarded request keeps);
* fails a whole region on demand (:meth:`DmsApi.fail_region`), as a region whose DMS
  the function may not call, or that the account has not enabled, answers; the
  function must then call the answer uncertain and keep the role;
* counts every call by (region, action).

DMS speaks the JSON 1.1 protocol (botocore's ``dms/2016-01-01`` model): a POST whose
``X-Amz-Target`` is ``AmazonDMSv20160101.<Action>``, errors as ``{"__type": code,
"message": text}``. Point boto3 at :attr:`DmsApi.url` with ``endpoint_url`` or, from any
process, ``AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE`` (:meth:`DmsApi.env`): boto3
names the variable after the service id, "Database Migration Service" (AWS SDKs and
Tools reference guide, "Service-specific endpoints").
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from testkit import ACCOUNT
from testkit.cfn_api import signing_region
from testkit.loopback import LoopbackServer, Refusal
from testkit.unkind_iam_query import (
    QueryRequest,
    Reply,
    forward,
    key_after,
    new_request_id,
    page_token,
)

__all__ = ["REGION_FAILURES", "DmsApi"]

_TARGET_PREFIX = "AmazonDMSv20160101."
_JSON = "application/x-amz-json-1.1"
_CONFIGS = "DescribeReplicationConfigs"
#: The DMS API reference gives DescribeReplicationInstances and its siblings "Default:
#: 100. Constraints: Minimum 20, maximum 100" for MaxRecords; DescribeReplicationConfigs
#: states no limits of its own, so the same are applied.
DEFAULT_PAGE_SIZE = 100
_MIN_RECORDS, _MAX_RECORDS = 20, 100
#: Filters the API reference lists for DescribeReplicationConfigs, and the field each reads.
_FILTERS = {
    "replication-config-arn": "ReplicationConfigArn",
    "replication-config-id": "ReplicationConfigIdentifier",
}

#: Error codes a region can be failed with, and their HTTP status as the "Common Errors"
#: page of the AWS API references gives them today (older copies give 400 for
#: AccessDeniedException; botocore reads the code from the body either way).
#: UnrecognizedClientException is what a region the account has not enabled answers.
REGION_FAILURES = {
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "ExpiredTokenException": 403,
    "OptInRequired": 403,
    "ThrottlingException": 400,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}
_MESSAGES = {
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "ExpiredTokenException": "The security token included in the request is expired",
    "OptInRequired": "The AWS Access Key Id needs a subscription for the service",
    "ThrottlingException": "Rate exceeded",
    "InternalFailure": "The request processing has failed because of an unknown error.",
    "ServiceUnavailable": "The service is unavailable. Please try again later.",
}


class _HasUrl(Protocol):
    url: str


@dataclass(frozen=True)
class _Failure:
    code: str
    status: int
    message: str | None
    #: The actions failed; None fails every call to the region.
    actions: frozenset[str] | None


def _partition(region: str) -> str:
    # The partitions botocore's endpoints.json names, by the prefix of their regions.
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _resource_id() -> str:
    # DMS ARNs end in an upper-case, alphanumeric id of 26 or so characters
    # (e.g. arn:aws:dms:us-east-1:123456789012:replication-config:EXAMPLE...).
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


class DmsApi(LoopbackServer):
    """A loopback DMS endpoint: replication configs from a registry, the rest from moto.

    ``upstream`` is moto_server's URL, or anything with a ``url`` such as
    :class:`testkit.local_aws.MotoServer`. ``page_size`` is how many replication
    configs a page holds when the caller sends no ``MaxRecords`` (the function never
    does, so a smaller one exercises its paging with few configs).
    """

    thread_name = "dms-api"

    def __init__(
        self, upstream: str | _HasUrl, *, port: int = 0, page_size: int = DEFAULT_PAGE_SIZE
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        super().__init__(port)
        base = upstream if isinstance(upstream, str) else upstream.url
        parts = urllib.parse.urlsplit(base)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.page_size = page_size
        self._lock = threading.Lock()
        #: region -> identifier -> the ReplicationConfig as DMS answers it.
        self._configs: dict[str, dict[str, dict[str, Any]]] = {}
        self._failures: dict[str, _Failure] = {}
        self._calls: Counter[tuple[str, str]] = Counter()

    def env(self) -> dict[str, str]:
        """Environment that points boto3's DMS clients, in any process, here."""
        return {"AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE": self.url}

    # -- the registry tests drive --------------------------------------------------------
    def add_replication_config(
        self,
        region: str,
        identifier: str,
        *,
        replication_type: str = "full-load",
        source_endpoint_arn: str | None = None,
        target_endpoint_arn: str | None = None,
        max_capacity_units: int = 16,
    ) -> dict[str, Any]:
        """Register a DMS Serverless replication config in ``region``; returns it as listed."""
        arn_prefix = f"arn:{_partition(region)}:dms:{region}:{ACCOUNT}"
        now = time.time()
        config: dict[str, Any] = {
            "ReplicationConfigIdentifier": identifier,
            "ReplicationConfigArn": f"{arn_prefix}:replication-config:{_resource_id()}",
            "SourceEndpointArn": source_endpoint_arn or f"{arn_prefix}:endpoint:{_resource_id()}",
            "TargetEndpointArn": target_endpoint_arn or f"{arn_prefix}:endpoint:{_resource_id()}",
            "ReplicationType": replication_type,
            "ComputeConfig": {"MaxCapacityUnits": max_capacity_units, "MultiAZ": False},
            "ReplicationConfigCreateTime": now,
            "ReplicationConfigUpdateTime": now,
        }
        with self._lock:
            self._configs.setdefault(region, {})[identifier] = config
        return dict(config)

    def remove_replication_config(self, region: str, identifier: str) -> bool:
        """Forget a replication config; False if ``region`` had none of that name."""
        with self._lock:
            return self._configs.get(region, {}).pop(identifier, None) is not None

    def fail_region(
        self,
        region: str,
        code: str = "AccessDeniedException",
        *,
        actions: Iterable[str] | None = None,
        status: int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer calls to ``region`` (only ``actions``, if given) with the error ``code``.

        The status defaults to :data:`REGION_FAILURES`' for the code; another code needs one.
        """
        if status is None:
            if code not in REGION_FAILURES:
                raise ValueError(f"give the HTTP status of {code!r} (known: {REGION_FAILURES})")
            status = REGION_FAILURES[code]
        chosen = None if actions is None else frozenset(actions)
        with self._lock:
            self._failures[region] = _Failure(code, status, message, chosen)

    def heal_region(self, region: str) -> None:
        """Undo :meth:`fail_region`."""
        with self._lock:
            self._failures.pop(region, None)

    def reset(self) -> None:
        """Forget every config, failure and count (moto's own DMS state is left alone)."""
        with self._lock:
            self._configs.clear()
            self._failures.clear()
            self._calls.clear()

    def calls(self) -> dict[tuple[str, str], int]:
        """Calls received so far by (region, action), failed ones included."""
        with self._lock:
            return dict(self._calls)

    # -- serving -------------------------------------------------------------------------
    def handle(self, request: QueryRequest) -> Reply:
        target = next((v for k, v in request.headers if k.lower() == "x-amz-target"), "")
        action = target.removeprefix(_TARGET_PREFIX)
        region = signing_region(request)
        with self._lock:
            self._calls[(region or "", action)] += 1
            failure = self._failures.get(region or "")
        try:
            if region is None:
                # Every AWS API refuses an unsigned request before looking at it.
                raise Refusal(
                    403, "MissingAuthenticationTokenException", "Missing Authentication Token"
                )
            if failure is not None and (failure.actions is None or action in failure.actions):
                raise Refusal(failure.status, failure.code, _message(failure, action, region))
            if action == _CONFIGS:
                return _reply(self._describe_configs(region, _body(request)))
        except Refusal as refusal:
            return _error_reply(refusal)
        return self._forward(request)

    def crashed(self, error: Exception) -> Reply:
        return _error_reply(Refusal(500, "InternalFailure", f"stand-in failed: {error!r}"))

    def _forward(self, request: QueryRequest) -> Reply:
        """The call as moto_server answers it, byte for byte (moto is thread-safe for reads)."""
        return forward(self._upstream, request)

    def _describe_configs(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        size = params.get("MaxRecords")
        if size is None:
            size = self.page_size
        elif not isinstance(size, int) or not _MIN_RECORDS <= size <= _MAX_RECORDS:
            raise Refusal(
                400,
                "InvalidParameterValueException",
                f"MaxRecords must be between {_MIN_RECORDS} and {_MAX_RECORDS}, got {size}",
            )
        with self._lock:
            configs = [dict(c) for _, c in sorted(self._configs.get(region, {}).items())]
        for name, values in _filters(params.get("Filters")):
            configs = [c for c in configs if c[_FILTERS[name]] in values]
        marker = params.get("Marker")
        after = _unmarker(marker) if marker else None
        rest = [c for c in configs if after is None or c["ReplicationConfigIdentifier"] > after]
        page = rest[:size]
        answer: dict[str, Any] = {"ReplicationConfigs": page}
        if len(rest) > size:
            # The marker names the last identifier served, not a position, so a page stays
            # right while a test adds or removes configs between two calls.
            answer["Marker"] = page_token(page[-1]["ReplicationConfigIdentifier"])
        return answer


def _message(failure: _Failure, action: str, region: str) -> str:
    if failure.message is not None:
        return failure.message
    if failure.code == "AccessDeniedException":
        # The wording of IAM's implicit deny (IAM user guide, "Troubleshoot access denied
        # error messages").
        return (
            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/dms-prereq-function/function is not "
            f"authorized to perform: dms:{action} on resource: "
            f"arn:{_partition(region)}:dms:{region}:{ACCOUNT}:* because no identity-based "
            f"policy allows the dms:{action} action"
        )
    return _MESSAGES.get(failure.code, failure.code)


def _body(request: QueryRequest) -> dict[str, Any]:
    try:
        params = json.loads(request.body or b"{}")
    except ValueError as error:
        raise Refusal(400, "SerializationException", f"the body is not JSON: {error}") from error
    if not isinstance(params, dict):
        raise Refusal(400, "SerializationException", "the body is not a JSON object")
    return params


def _filters(raw: Any) -> list[tuple[str, list[str]]]:
    filters = []
    for item in raw or []:
        name = item.get("Name") if isinstance(item, dict) else None
        if name not in _FILTERS:
            raise Refusal(
                400,
                "InvalidParameterValueException",
                f"The filter name {name!r} is not valid; use one of {sorted(_FILTERS)}",
            )
        filters.append((str(name), [str(v) for v in item.get("Values", [])]))
    return filters


def _unmarker(marker: str) -> str:
    key = key_after(marker)
    if key is None:
        raise Refusal(400, "InvalidParameterValueException", "The marker is not valid")
    return key


def _reply(answer: dict[str, Any]) -> Reply:
    request_id = new_request_id()
    headers = (("Content-Type", _JSON), ("x-amzn-RequestId", request_id))
    return Reply(200, headers, json.dumps(answer).encode("utf-8"))


def _error_reply(refusal: Refusal) -> Reply:
    # JSON 1.1 errors: botocore takes the code from "__type" and the text from "message".
    request_id = new_request_id()
    headers = (("Content-Type", _JSON), ("x-amzn-RequestId", request_id))
    body = json.dumps({"__type": refusal.code, "message": refusal.message})
    return Reply(refusal.status, headers, body.encode("utf-8"))
