"""Fault injection at the HTTP level of a boto3 IAM client, and the tap that names each call.

:class:`CallTap` hooks two botocore events on one client:

* ``before-parameter-build.iam`` (once per API call): gives the call a key,
  ``(action, role, n)`` for the n-th call of that action on that role in the
  current operation, and records it. Keys do not depend on how the three
  role threads interleave, so a fault plan aimed at a key hits the same call
  in every run.
* ``before-send.iam`` (once per HTTP attempt, retries included): when the
  armed :class:`FaultPlan` names the call, answers with IAM's error response
  (or raises a connection error) instead of sending. Errors therefore pass
  through botocore's standard retry mode exactly as real ones would, and 409s
  through the function's own retry of them (:func:`dms_prereq.iam._call`),
  which botocore does not retry.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import EndpointConnectionError

_TAP_ID = "prove-call-tap"
_KEY = "prove.call-key"


class Fault(Enum):
    """A way an IAM call can fail, with the HTTP status and error code IAM uses."""

    THROTTLING = (400, "Throttling", "refused")
    SERVICE_FAILURE = (500, "ServiceFailure", "refused")
    CONNECTION = (0, "", "not sent")
    #: IAM did the work, but its answer was lost (a 500 after the commit): the retry
    #: meets its own effect (EntityAlreadyExists, NoSuchEntity ...).
    RESPONSE_LOST = (500, "ServiceFailure", "done, answer lost")
    NO_SUCH_ENTITY = (404, "NoSuchEntity", "refused")
    ACCESS_DENIED = (403, "AccessDenied", "refused")
    #: IAM refuses a write while another write to the entity is under way; botocore's
    #: IAM model gives both exceptions HTTP 409 (IAM API reference, "Errors" of each write).
    CONCURRENT_MODIFICATION = (409, "ConcurrentModification", "refused")
    ENTITY_TEMPORARILY_UNMODIFIABLE = (409, "EntityTemporarilyUnmodifiable", "refused")

    @property
    def status(self) -> int:
        return int(self.value[0])

    @property
    def code(self) -> str:
        return str(self.value[1])

    @property
    def writes_only(self) -> bool:
        """IAM answers it to writes only (no Get or List action lists a 409)."""
        return self.status == 409


#: Faults the function must survive without reporting them.
TRANSIENT = (
    Fault.THROTTLING,
    Fault.SERVICE_FAILURE,
    Fault.CONNECTION,
    Fault.NO_SUCH_ENTITY,
    Fault.RESPONSE_LOST,
    Fault.CONCURRENT_MODIFICATION,
    Fault.ENTITY_TEMPORARILY_UNMODIFIABLE,
)
#: Answered 409, which the function retries itself (botocore's standard mode does not).
CONFLICTS = (Fault.CONCURRENT_MODIFICATION, Fault.ENTITY_TEMPORARILY_UNMODIFIABLE)


@dataclass(frozen=True, order=True)
class CallKey:
    action: str
    role: str
    occurrence: int

    def __str__(self) -> str:
        return f"{self.action}({self.role})#{self.occurrence}"


@dataclass(frozen=True)
class FaultPlan:
    """Fail ``target`` with ``fault``: its first HTTP attempt only, or every attempt of
    every call of that action on that role (``permanent``)."""

    target: CallKey
    fault: Fault
    permanent: bool = False

    def aims_at(self, key: CallKey) -> bool:
        if self.permanent:
            return (key.action, key.role) == (self.target.action, self.target.role)
        return key == self.target


class _Raw:
    """The raw body botocore reads from an AWSResponse."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _message(fault: Fault, key: CallKey) -> str:
    if fault is Fault.NO_SUCH_ENTITY:
        return f"The role with name {key.role} cannot be found."
    if fault is Fault.ACCESS_DENIED:
        return (
            "User: arn:aws:sts::123456789012:assumed-role/FunctionRole/dms-prereq is not "
            f"authorized to perform: iam:{key.action} on resource: role {key.role} because "
            f"no identity-based policy allows the iam:{key.action} action"
        )
    if fault is Fault.THROTTLING:
        return "Rate exceeded"
    if fault is Fault.CONCURRENT_MODIFICATION:
        return "Multiple requests to change this object were submitted simultaneously."
    if fault is Fault.ENTITY_TEMPORARILY_UNMODIFIABLE:
        return f"The role with name {key.role} is temporarily unmodifiable."
    return "An internal error occurred. Try again."


def error_response(url: str, fault: Fault, key: CallKey) -> AWSResponse:
    """IAM's XML error document for ``fault`` (query protocol)."""
    kind = "Receiver" if fault.status >= 500 else "Sender"
    body = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        f"<Error><Type>{kind}</Type><Code>{fault.code}</Code>"
        f"<Message>{_message(fault, key)}</Message></Error>"
        "<RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    headers = HTTPHeaders()
    headers["Content-Type"] = "text/xml"
    headers["Content-Length"] = str(len(body))
    return AWSResponse(url, fault.status, headers, _Raw(body))


@dataclass
class CallTap:
    """Keys, records and (when armed) fails the IAM calls of one boto3 client."""

    client: Any
    keys: list[CallKey] = field(default_factory=list)
    injected: Counter[CallKey] = field(default_factory=Counter)
    _plans: tuple[FaultPlan, ...] = ()
    _seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        events = self.client.meta.events
        events.register("before-parameter-build.iam", self._on_call, unique_id=_TAP_ID + "-call")
        events.register_first("before-send.iam", self._on_send, unique_id=_TAP_ID + "-send")

    def start(self, plan: FaultPlan | Sequence[FaultPlan] | None = None) -> None:
        """Begin an operation: number calls afresh and arm ``plan`` (or several, each
        aimed at another call)."""
        plans = () if plan is None else (plan,) if isinstance(plan, FaultPlan) else tuple(plan)
        with self._lock:
            self.keys = []
            self.injected = Counter()
            self._seen = Counter()
            self._plans = plans

    def stop(self) -> None:
        with self._lock:
            self._plans = ()

    def _on_call(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        role = str(params.get("RoleName", ""))
        with self._lock:
            self._seen[(model.name, role)] += 1
            key = CallKey(str(model.name), role, self._seen[(model.name, role)])
            self.keys.append(key)
        context[_KEY] = key

    def _on_send(self, request: Any, **_: Any) -> AWSResponse | None:
        key = request.context.get(_KEY)
        with self._lock:
            plan = next((p for p in self._plans if key is not None and p.aims_at(key)), None)
            if key is None or plan is None:
                return None
            if not plan.permanent and self.injected[key]:
                return None
            self.injected[key] += 1
        url = request.url
        if plan.fault is Fault.RESPONSE_LOST:
            if _on_loopback(url):
                _deliver(request)  # IAM (moto_server) does the work; the answer is dropped
            # Else the next handler (moto's in-process stub) still executes the request.
            # Either way botocore keeps this first answer, the error.
            return error_response(url, plan.fault, key)
        # Handlers later in the chain (moto's in-process stub) must not execute a request
        # that IAM refused: point this attempt nowhere. A retry is a new request object.
        request.url = "https://fault-injected.invalid/"
        if plan.fault is Fault.CONNECTION:
            raise EndpointConnectionError(endpoint_url=url)
        return error_response(url, plan.fault, key)


def _on_loopback(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname in ("127.0.0.1", "localhost")


def _deliver(request: Any) -> None:
    """Send botocore's prepared request to a loopback IAM and drop its answer."""
    parts = urllib.parse.urlsplit(request.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    body = request.body.encode() if isinstance(request.body, str) else request.body
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request(request.method, target, body=body, headers=dict(request.headers))
        connection.getresponse().read()
    finally:
        connection.close()
