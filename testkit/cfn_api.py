"""``CloudFormationApi``: CloudFormation's stack reads on loopback, from a registry tests drive.

moto's CloudFormation finishes every stack operation at once, so it can never show a
stack or a resource ``*_IN_PROGRESS``; yet that is exactly what the function checks
(``verify_request``) and what decides a claim is live (``StackLookup``). This stand-in
answers the four reads the function and the CLI make, from stacks a test sets by hand:

* ``DescribeStacks``, ``DescribeStackResource``, ``DescribeStackResources`` and
  ``ListStackResources`` (paged with ``NextToken``), in CloudFormation's Query protocol
  (form-encoded POST, ``Action=...``, XML answers in the 2010-05-15 namespace, errors as
  an XML ``ErrorResponse``; shapes as in the CloudFormation API reference and botocore's
  ``cloudformation/2010-05-15`` service model);
* in the region the request was signed for (its SigV4 credential scope), as the real
  service is regional: a stack ARN of another region answers ``ValidationError``
  "Stack with id X does not exist", which proves the caller asked the stack's own region;
* a stack deleted with :meth:`CloudFormationApi.delete_stack` still answers by its ARN,
  ``DELETE_COMPLETE`` with its resources ``DELETE_COMPLETE`` ("Deleted stacks: you must
  specify the unique stack ID", API reference, DescribeStacks), and no longer by its name;
* refusals on demand: ``AccessDenied`` (:meth:`~CloudFormationApi.deny`) and
  ``Throttling`` (:meth:`~CloudFormationApi.throttle`); every request is counted.

Point boto3 at :attr:`CloudFormationApi.url` with ``endpoint_url`` or, from any
process, ``AWS_ENDPOINT_URL_CLOUDFORMATION`` (:meth:`CloudFormationApi.env`): every
region's client then reaches this one server, which tells them apart by the signature.

It runs on :class:`~testkit.loopback.LoopbackServer`, as :class:`testkit.dms_api.DmsApi`
and :class:`testkit.unkind_iam.UnkindIam` do.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TypeVar
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import ServiceModel

from testkit import ACCOUNT, REGION
from testkit.loopback import LoopbackServer, Refusal
from testkit.unkind_iam_query import QueryRequest, Reply, key_after, new_request_id, page_token

__all__ = [
    "CFN_XMLNS",
    "DEFAULT_RESOURCE_TYPE",
    "CfnRequest",
    "CloudFormationApi",
    "signing_region",
    "stack_arn",
]

#: botocore's cloudformation/2010-05-15 model gives this as the service's xmlNamespace.
CFN_XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
DEFAULT_RESOURCE_TYPE = "Custom::DmsPrerequisiteRoles"
#: Neither the API reference nor botocore states ListStackResources' page size; 100 makes
#: paging happen in tests with a few hundred resources, as the brief of the sweep asks.
DEFAULT_PAGE_SIZE = 100
T = TypeVar("T")

#: A stack ARN: arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>.
_STACK_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):cloudformation:(?P<region>[a-z0-9-]+):"
    r"(?P<account>\d{12}):stack/(?P<name>[A-Za-z][A-Za-z0-9-]*)/(?P<id>[^/\s]+)"
)
#: SigV4 "Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/
#: aws4_request, ..." (IAM user guide, "Elements of an AWS API request signature").
_CREDENTIAL_SCOPE = re.compile(
    r"Credential=[^/,\s]+/\d{8}/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request"
)
#: The four reads served; any other action is InvalidAction, as for a misspelt one.
_SERVED = (
    "DescribeStacks",
    "DescribeStackResource",
    "DescribeStackResources",
    "ListStackResources",
)
#: Statuses of a stack or resource that is gone; it then answers by its ARN only.
_GONE = "DELETE_COMPLETE"
_KEPT_ON_DELETE = frozenset({"DELETE_COMPLETE", "DELETE_SKIPPED"})


@cache
def _model() -> ServiceModel:
    # The service model botocore ships is the one place that lists valid statuses and
    # actions; reading it turns a typo in a test into a ValueError, not a silent miss.
    return botocore.session.get_session().get_service_model("cloudformation")


def _enum(shape: str) -> frozenset[str]:
    # StringShape.enum: botocore-stubs types shape_for() as the base Shape, without it.
    return frozenset(getattr(_model().shape_for(shape), "enum", ()))


def stack_arn(
    name: str | None = None, region: str = REGION, account: str = ACCOUNT, partition: str = "aws"
) -> str:
    """A fresh stack ARN as CloudFormation makes them (the trailing id is a UUID)."""
    name = name or f"stack-{uuid.uuid4().hex[:10]}"
    return f"arn:{partition}:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"


def signing_region(request: QueryRequest) -> str | None:
    """The region a request was signed for, from its SigV4 credential scope, or None."""
    authorization = next((v for k, v in request.headers if k.lower() == "authorization"), "")
    match = _CREDENTIAL_SCOPE.search(authorization)
    return match["region"] if match else None


def _timestamp(moment: datetime) -> str:
    # ISO 8601 in UTC with milliseconds, as CloudFormation writes CreationTime and the like.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(**values: str | None) -> str:
    """Elements in the order given; a None value is left out, as the service leaves it out."""
    return "".join(
        f"<{name}>{escape(value)}</{name}>" for name, value in values.items() if value is not None
    )


# -- the loopback server both stand-ins run on --------------------------------------------


# -- CloudFormation ----------------------------------------------------------------------


@dataclass
class _Resource:
    logical_id: str
    status: str
    type: str
    physical_id: str | None
    reason: str | None
    updated: datetime


@dataclass
class _Stack:
    stack_id: str
    name: str
    region: str
    status: str
    reason: str | None
    created: datetime
    deleted: datetime | None = None
    resources: dict[str, _Resource] = field(default_factory=dict)


@dataclass(frozen=True)
class CfnRequest:
    """One request as the stand-in saw it: what was asked, where, and the error answered."""

    action: str
    region: str | None
    #: The StackName parameter as sent (a name or an ARN), or None.
    stack: str | None
    #: The error code answered, or None for a successful answer.
    error: str | None


def _missing_stack(stack: str) -> Refusal:
    # The text real CloudFormation answers for an unknown stack, a deleted stack asked by
    # name, and a stack ARN asked in another region alike; the function keys on it.
    return Refusal(400, "ValidationError", f"Stack with id {stack} does not exist")


def _parse_stack_arn(stack_id: str) -> re.Match[str]:
    match = _STACK_ARN.fullmatch(stack_id)
    if match is None:
        raise ValueError(f"not a stack ARN: {stack_id!r} (make one with stack_arn())")
    return match


class CloudFormationApi(LoopbackServer):
    """CloudFormation's stack reads on loopback, answering from a registry tests drive.

    Every method is safe to call from any thread while the server answers.
    ``page_size`` is how many resources a ListStackResources page (and stacks a
    DescribeStacks page without StackName) holds.
    """

    thread_name = "cfn-api"

    def __init__(self, *, port: int = 0, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        super().__init__(port)
        self.page_size = page_size
        self._lock = threading.Lock()
        self._stacks: dict[str, _Stack] = {}
        #: (action, stack ARN) pairs refused with AccessDenied; a None ARN refuses them all.
        self._denied: set[tuple[str, str | None]] = set()
        self._throttled: Counter[str] = Counter()
        self._requests: list[CfnRequest] = []

    def env(self) -> dict[str, str]:
        """Environment that points boto3's CloudFormation clients, in any process, here."""
        return {"AWS_ENDPOINT_URL_CLOUDFORMATION": self.url}

    # -- the registry tests drive --------------------------------------------------------
    def put_stack(
        self, stack_id: str, status: str = "CREATE_COMPLETE", *, reason: str | None = None
    ) -> None:
        """Register the stack, or set its status; its region and name come from the ARN."""
        match = _parse_stack_arn(stack_id)
        self._check(status, "StackStatus")
        now = datetime.now(UTC)
        with self._lock:
            stack = self._stacks.get(stack_id)
            if stack is None:
                self._stacks[stack_id] = _Stack(
                    stack_id, match["name"], match["region"], status, reason, now
                )
            else:
                stack.status, stack.reason = status, reason
                stack.deleted = now if status == _GONE else None

    def put_resource(
        self,
        stack_id: str,
        logical_id: str,
        status: str,
        *,
        type: str = DEFAULT_RESOURCE_TYPE,
        physical_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Add a resource to a registered stack, or set its status (and type, physical id)."""
        self._check(status, "ResourceStatus")
        with self._lock:
            stack = self._registered(stack_id)
            stack.resources[logical_id] = _Resource(
                logical_id, status, type, physical_id, reason, datetime.now(UTC)
            )

    def remove_resource(self, stack_id: str, logical_id: str) -> bool:
        """Take a resource off its stack's list (an update removed it); False if absent."""
        with self._lock:
            return self._registered(stack_id).resources.pop(logical_id, None) is not None

    def delete_stack(self, stack_id: str) -> None:
        """Finish a stack's deletion: DELETE_COMPLETE, its resources too (DELETE_SKIPPED kept).

        Afterwards it answers by its ARN only, as a deleted stack does.
        """
        now = datetime.now(UTC)
        with self._lock:
            stack = self._registered(stack_id)
            stack.status, stack.reason, stack.deleted = _GONE, None, now
            for resource in stack.resources.values():
                if resource.status not in _KEPT_ON_DELETE:
                    resource.status, resource.reason, resource.updated = _GONE, None, now

    def forget_stack(self, stack_id: str) -> None:
        """Forget the stack entirely: it answers "does not exist", even by its ARN."""
        with self._lock:
            self._stacks.pop(stack_id, None)

    def deny(self, action: str, stack_id: str | None = None) -> None:
        """Answer ``action`` with AccessDenied: on that stack only, or (None) on every call."""
        self._check_action(action)
        with self._lock:
            self._denied.add((action, stack_id))

    def allow(self, action: str, stack_id: str | None = None) -> None:
        """Undo a :meth:`deny` of the same arguments."""
        with self._lock:
            self._denied.discard((action, stack_id))

    def throttle(self, action: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``action`` with Throttling (botocore retries it)."""
        self._check_action(action)
        with self._lock:
            self._throttled[action] += times

    def reset(self) -> None:
        """Forget every stack, refusal and request."""
        with self._lock:
            self._stacks.clear()
            self._denied.clear()
            self._throttled.clear()
            self._requests.clear()

    # -- what the callers did ------------------------------------------------------------
    def calls(self) -> dict[str, int]:
        """Requests received so far by action, refused ones included."""
        with self._lock:
            return dict(Counter(request.action for request in self._requests))

    def requests(self) -> list[CfnRequest]:
        """Every request received so far, in order of arrival."""
        with self._lock:
            return list(self._requests)

    # -- serving -------------------------------------------------------------------------
    def handle(self, request: QueryRequest) -> Reply:
        action = request.action or ""
        region = signing_region(request)
        stack = request.get("StackName")
        try:
            body = self._answer(action, region, request)
        except Refusal as refusal:
            self._record(CfnRequest(action, region, stack, refusal.code))
            return _error_reply(refusal)
        self._record(CfnRequest(action, region, stack, None))
        return _reply(action, body)

    def crashed(self, error: Exception) -> Reply:
        return _error_reply(Refusal(500, "InternalFailure", f"stand-in failed: {error!r}"))

    def _record(self, request: CfnRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _answer(self, action: str, region: str | None, request: QueryRequest) -> str:
        if region is None:
            # Every AWS API refuses an unsigned request before looking at it.
            raise Refusal(
                403, "MissingAuthenticationToken", "Request is missing Authentication Token"
            )
        if action not in _SERVED:
            raise Refusal(
                400, "InvalidAction", f"Could not find operation {action} for version 2010-05-15"
            )
        with self._lock:
            if self._throttled[action] > 0:
                self._throttled[action] -= 1
                raise Refusal(400, "Throttling", "Rate exceeded")
            stack_param = request.get("StackName")
            self._refuse_if_denied(action, stack_param, region)
            if action == "DescribeStacks":
                return self._describe_stacks(region, stack_param, request.get("NextToken"))
            if action == "DescribeStackResource":
                stack = self._stack(region, _required(stack_param, "stackName"))
                logical_id = _required(request.get("LogicalResourceId"), "logicalResourceId")
                return _resource_detail(stack, logical_id)
            if action == "DescribeStackResources":
                return self._describe_stack_resources(region, request)
            stack = self._stack(region, _required(stack_param, "stackName"))
            return self._list_stack_resources(stack, request.get("NextToken"))

    def _refuse_if_denied(self, action: str, stack_param: str | None, region: str) -> None:
        """Caller holds ``_lock``. IAM decides before CloudFormation looks the stack up."""
        target = None
        if stack_param is not None:
            found = self._find(region, stack_param)
            target = found.stack_id if found else stack_param
        if (action, None) in self._denied or (action, target) in self._denied:
            resource = target or f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/*/*"
            # The wording of IAM's implicit deny in an AccessDenied message (IAM user guide,
            # "Troubleshoot access denied error messages").
            raise Refusal(
                403,
                "AccessDenied",
                f"User: arn:aws:sts::{ACCOUNT}:assumed-role/dms-prereq-function/function is "
                f"not authorized to perform: cloudformation:{action} on resource: {resource} "
                f"because no identity-based policy allows the cloudformation:{action} action",
            )

    def _find(self, region: str, name_or_id: str) -> _Stack | None:
        """Caller holds ``_lock``. A stack by ARN (deleted or not) or by name (live only)."""
        if _STACK_ARN.fullmatch(name_or_id):
            stack = self._stacks.get(name_or_id)
            return stack if stack is not None and stack.region == region else None
        live = [
            stack
            for stack in self._stacks.values()
            if stack.name == name_or_id and stack.region == region and stack.status != _GONE
        ]
        return live[-1] if live else None

    def _stack(self, region: str, name_or_id: str) -> _Stack:
        stack = self._find(region, name_or_id)
        if stack is None:
            raise _missing_stack(name_or_id)
        return stack

    def _registered(self, stack_id: str) -> _Stack:
        """Caller holds ``_lock``."""
        stack = self._stacks.get(stack_id)
        if stack is None:
            raise KeyError(f"no stack {stack_id}: put_stack() it first")
        return stack

    def _describe_stacks(self, region: str, stack_param: str | None, token: str | None) -> str:
        if stack_param is not None:
            stacks = [self._stack(region, stack_param)]
            following = None
        else:
            # Without StackName: every stack of the region that is not deleted.
            everyone = sorted(
                (s for s in self._stacks.values() if s.region == region and s.status != _GONE),
                key=lambda s: s.stack_id,
            )
            stacks, following = _page(everyone, lambda s: s.stack_id, token, self.page_size)
        members = "".join(f"<member>{_stack_fields(stack)}</member>" for stack in stacks)
        return f"<Stacks>{members}</Stacks>" + _fields(NextToken=following)

    def _describe_stack_resources(self, region: str, request: QueryRequest) -> str:
        stack_param = request.get("StackName")
        logical_id = request.get("LogicalResourceId")
        physical_id = request.get("PhysicalResourceId")
        if stack_param is not None:
            stack = self._stack(region, stack_param)
        elif physical_id is not None:
            holders = [
                s
                for s in self._stacks.values()
                if s.region == region
                and any(r.physical_id == physical_id for r in s.resources.values())
            ]
            if not holders:
                raise _missing_stack(physical_id)
            stack = holders[-1]
        else:
            raise Refusal(
                400, "ValidationError", "Either StackName or PhysicalResourceId must be specified"
            )
        members = "".join(
            f"<member>{_resource_fields(stack, resource, 'Timestamp')}</member>"
            for resource in sorted(stack.resources.values(), key=lambda r: r.logical_id)
            if logical_id in (None, resource.logical_id)
            and physical_id in (None, resource.physical_id)
        )
        return f"<StackResources>{members}</StackResources>"

    def _list_stack_resources(self, stack: _Stack, token: str | None) -> str:
        resources = sorted(stack.resources.values(), key=lambda r: r.logical_id)
        page, following = _page(resources, lambda r: r.logical_id, token, self.page_size)
        members = "".join(
            f"<member>{_resource_fields(None, r, 'LastUpdatedTimestamp')}</member>" for r in page
        )
        return f"<StackResourceSummaries>{members}</StackResourceSummaries>" + _fields(
            NextToken=following
        )

    @staticmethod
    def _check(status: str, shape: str) -> None:
        if status not in _enum(shape):
            raise ValueError(f"{status!r} is not a CloudFormation {shape}")

    @staticmethod
    def _check_action(action: str) -> None:
        if action not in _SERVED:
            raise ValueError(f"{action!r} is not one of the actions served: {_SERVED}")


def _required(value: str | None, member: str) -> str:
    if value is None:
        # The wording of CloudFormation's constraint errors for a missing required member.
        raise Refusal(
            400,
            "ValidationError",
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null",
        )
    return value


def _page(
    items: list[T], key: Callable[[T], str], token: str | None, size: int
) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``key``) after the token's key, and the next token.

    The token names the last key served rather than a position, so a page stays right
    while a test adds or removes items between two calls.
    """
    after = _untoken(token) if token else None
    rest = [item for item in items if after is None or key(item) > after]
    page = rest[:size]
    following = page_token(key(page[-1])) if len(rest) > size else None
    return page, following


def _untoken(token: str) -> str:
    key = key_after(token)
    if key is None:
        raise Refusal(400, "ValidationError", "Invalid NextToken")
    return key


def _stack_fields(stack: _Stack) -> str:
    # The Stack shape's members, in the order of the API reference's sample response.
    return _fields(
        StackId=stack.stack_id,
        StackName=stack.name,
        CreationTime=_timestamp(stack.created),
        DeletionTime=_timestamp(stack.deleted) if stack.deleted else None,
        StackStatus=stack.status,
        StackStatusReason=stack.reason,
        DisableRollback="false",
    )


def _resource_fields(stack: _Stack | None, resource: _Resource, time_member: str) -> str:
    """A StackResource(Detail) with ``stack``, or a StackResourceSummary without it.

    The shapes differ in the name of the time member: ``Timestamp`` in StackResource,
    ``LastUpdatedTimestamp`` in StackResourceDetail and StackResourceSummary.
    """
    return _fields(
        StackName=stack.name if stack else None,
        StackId=stack.stack_id if stack else None,
        LogicalResourceId=resource.logical_id,
        PhysicalResourceId=resource.physical_id,
        ResourceType=resource.type,
        **{time_member: _timestamp(resource.updated)},
        ResourceStatus=resource.status,
        ResourceStatusReason=resource.reason,
    )


def _resource_detail(stack: _Stack, logical_id: str) -> str:
    resource = stack.resources.get(logical_id)
    if resource is None:
        raise Refusal(
            400,
            "ValidationError",
            f"Resource {logical_id} does not exist for stack {stack.name}",
        )
    detail = _resource_fields(stack, resource, "LastUpdatedTimestamp")
    return f"<StackResourceDetail>{detail}</StackResourceDetail>"


def _reply(action: str, result: str) -> Reply:
    # A Query protocol answer: <ActionResponse><ActionResult>...</ActionResult> and the
    # request id in ResponseMetadata (botocore's model names the resultWrapper).
    request_id = new_request_id()
    body = (
        f'<{action}Response xmlns="{CFN_XMLNS}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    headers = (("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id))
    return Reply(200, headers, body.encode("utf-8"))


def _error_reply(refusal: Refusal) -> Reply:
    request_id = new_request_id()
    fault = "Sender" if refusal.status < 500 else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{CFN_XMLNS}"><Error><Type>{fault}</Type>'
        f"<Code>{escape(refusal.code)}</Code><Message>{escape(refusal.message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    headers = (("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id))
    return Reply(refusal.status, headers, body.encode("utf-8"))
