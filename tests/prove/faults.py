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
  through botocore's standard retry mode exactly as real ones would.
"""

from __future__ import annotations

import threading
from collections import Counter
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
    #: meets its own effect (EntityAlreadyExists, NoSuchEntity ...). In-process moto only.
    RESPONSE_LOST = (500, "ServiceFailure", "done, answer lost")
    NO_SUCH_ENTITY = (404, "NoSuchEntity", "refused")
    ACCESS_DENIED = (403, "AccessDenied", "refused")

    @property
    def status(self) -> int:
        return int(self.value[0])

    @property
    def code(self) -> str:
        return str(self.value[1])


#: Faults the function must survive without reporting them.
TRANSIENT = (
    Fault.THROTTLING,
    Fault.SERVICE_FAILURE,
    Fault.CONNECTION,
    Fault.NO_SUCH_ENTITY,
    Fault.RESPONSE_LOST,
)


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
    _plan: FaultPlan | None = None
    _seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        events = self.client.meta.events
        events.register("before-parameter-build.iam", self._on_call, unique_id=_TAP_ID + "-call")
        events.register_first("before-send.iam", self._on_send, unique_id=_TAP_ID + "-send")

    def start(self, plan: FaultPlan | None = None) -> None:
        """Begin an operation: number calls afresh and arm ``plan``."""
        with self._lock:
            self.keys = []
            self.injected = Counter()
            self._seen = Counter()
            self._plan = plan

    def stop(self) -> None:
        with self._lock:
            self._plan = None

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
            plan = self._plan
            if key is None or plan is None or not plan.aims_at(key):
                return None
            if not plan.permanent and self.injected[key]:
                return None
            self.injected[key] += 1
        url = request.url
        if plan.fault is Fault.RESPONSE_LOST:
            # The next handler (moto's in-process stub) still executes the request;
            # botocore keeps this first answer, the error.
            return error_response(url, plan.fault, key)
        # Handlers later in the chain (moto's in-process stub) must not execute a request
        # that IAM refused: point this attempt nowhere. A retry is a new request object.
        request.url = "https://fault-injected.invalid/"
        if plan.fault is Fault.CONNECTION:
            raise EndpointConnectionError(endpoint_url=url)
        return error_response(url, plan.fault, key)
