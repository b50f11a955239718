"""crhelper, configured for a custom resource that must always answer exactly once.

crhelper keeps the protocol (handler registration, the timer that answers
FAILED 0.5 s before the Lambda deadline, init failures). This subclass changes
what would hurt a stack author:

* no 120-second sleep before answering a Delete (``sleep_on_delete=0``);
* no polling clients built at cold start (we never poll; see ``__init__``);
* its sender is replaced by :func:`dms_prereq.response.send`, which never
  logs the pre-signed URL and gives up when the invocation runs out of time;
* one answer per request, even when the timer and the handler race;
* a malformed envelope gets a clear FAILED (or SUCCESS for a Delete) instead
  of a KeyError, and never reaches a previous request's ResponseURL; so does an
  invalid Delete (:func:`parse_delete`): the domain sees parsed requests only.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from crhelper import CfnResource

from . import response
from .errors import MAX_REASON, InvalidRequest, ProvisioningError
from .request import Request, check_request_type, physical_id_for

log = logging.getLogger(__name__)

_ENVELOPE = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId")


class CustomResource(CfnResource):
    def __init__(self) -> None:
        # CfnResource.__init__ builds lambda, events and logs clients for its
        # polling mode (80-120 ms of every cold start, and a region it insists
        # on) unless AWS_SAM_LOCAL is set. It has no switch for "never poll",
        # so we show it that variable for the length of the constructor only.
        saved = os.environ.get("AWS_SAM_LOCAL")
        os.environ["AWS_SAM_LOCAL"] = "true"
        try:
            super().__init__(
                json_logging=False, log_level="INFO", boto_level="WARNING", sleep_on_delete=0
            )
        finally:
            if saved is None:
                del os.environ["AWS_SAM_LOCAL"]
            else:
                os.environ["AWS_SAM_LOCAL"] = saved
        self._answer_lock = threading.Lock()
        self._answered = False

    def __call__(self, event: Any, context: Any) -> None:
        response.prepare()  # the CA certificates load while IAM works
        with self._answer_lock:
            self._answered = False
        self._context = context
        event_dict = event if isinstance(event, dict) else {}
        url = event_dict.get("ResponseURL")
        self._response_url = url if isinstance(url, str) else ""  # not a str: undeliverable
        self.StackId = str(event_dict.get("StackId", ""))
        self.RequestId = str(event_dict.get("RequestId", ""))
        self.LogicalResourceId = str(event_dict.get("LogicalResourceId", ""))
        self.PhysicalResourceId = str(event_dict.get("PhysicalResourceId", ""))
        self.Data = {}
        problem = _envelope_problem(event)
        if problem is not None:
            is_delete = event_dict.get("RequestType") == "Delete"
            log.error("malformed request", extra={"reason": problem})
            self.PhysicalResourceId = physical_id_for(event)
            self._send("SUCCESS" if is_delete else "FAILED", "" if is_delete else problem)
            return
        super().__call__(event, context)

    def _wrap_function(self, func: Any) -> None:
        # crhelper's own logs every exception at ERROR with its traceback. A
        # ProvisioningError is the stack author's to fix, not a fault of the function,
        # and app.py has logged it once at WARNING: answer FAILED without the traceback.
        try:
            event = getattr(self, "_event", None)  # crhelper's private state, set before this
            self.PhysicalResourceId = func(event, self._context) if func else ""
        except ProvisioningError as failure:
            self.Reason = str(failure)
            self.Status = "FAILED"
        except Exception as error:  # crhelper's handling of anything else
            log.error(str(error), exc_info=True)
            self.Reason = str(error)
            self.Status = "FAILED"

    def generate_physical_id(self, event: Any) -> str:
        # crhelper calls this when a handler failed before returning an id: a
        # random id there would break "the same id in every response".
        return physical_id_for(event)

    def _timeout(self) -> None:
        log.error("about to time out; answering FAILED")
        self._send(
            "FAILED",
            "The function ran out of time before finishing (IAM slow or throttled); retry the "
            "stack operation, or lower PropagationDelaySeconds.",
        )

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        with self._answer_lock:
            if self._answered:
                log.warning("an answer was already sent for this request; not sending another")
                return
            self._answered = True
        body = {
            "Status": status or self.Status,
            "Reason": (reason if status else self.Reason) or "",
            # crhelper clears the id before the handler runs, so an answer sent before
            # it returns (init failure, timeout) would carry "": give the resource's own.
            "PhysicalResourceId": str(self.PhysicalResourceId)
            or physical_id_for(getattr(self, "_event", None)),
            "StackId": self.StackId,
            "RequestId": self.RequestId,
            "LogicalResourceId": self.LogicalResourceId,
            "NoEcho": False,
            "Data": self.Data if (status or self.Status) == "SUCCESS" else {},
        }
        if body["Status"] == "FAILED" and not body["Reason"]:
            body["Reason"] = "The request failed; see the function's log."
        body["Reason"] = str(body["Reason"])[:MAX_REASON]
        response.send(
            self._response_url,
            body,
            remaining_seconds=self.remaining_seconds,
            local=response.is_local(),
        )

    def remaining_seconds(self) -> float:
        context = self._context
        if context is None or not hasattr(context, "get_remaining_time_in_millis"):
            return 30.0
        return float(context.get_remaining_time_in_millis()) / 1000.0


def parse_delete(event: Any) -> Request | None:
    """A Delete's request, or None when it is invalid: then it answers SUCCESS.

    A Delete must never fail over its input, or the stack cannot be deleted
    (an invalid or unknown resource holds no claim to release).
    """
    try:
        return Request.parse(event)
    except InvalidRequest as invalid:
        log.warning("nothing to release for an invalid request", extra={"reason": str(invalid)})
        return None


@dataclass(frozen=True)
class FunctionIdentity:
    """Where the function runs, from the ARN it was invoked by."""

    partition: str
    region: str
    account: str


def function_identity(context: Any) -> FunctionIdentity | None:
    arn = getattr(context, "invoked_function_arn", None)
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 7 or parts[0] != "arn" or not parts[4].isdigit():
        return None
    return FunctionIdentity(partition=parts[1], region=parts[3], account=parts[4])


def account_problem(request: Request, context: Any) -> str | None:
    """Why this function must not act on the request's stack, or None.

    IAM is per account: a stack of another account (whose ServiceToken names
    this function) would get its roles in this one.
    """
    identity = function_identity(context)
    if identity is None:
        return "The function cannot tell its own account (no invoked function ARN)."
    resource = request.resource
    if identity.account != resource.account:
        return (
            f"Stack {resource.stack_name} is in account {resource.account} but this function "
            f"manages the roles of account {identity.account}; deploy dms-prerequisite-roles in "
            f"account {resource.account} and use its ServiceToken."
        )
    return None


def _envelope_problem(event: Any) -> str | None:
    """Why the event is not a custom resource request crhelper can handle, or None."""
    if not isinstance(event, dict):
        return str(InvalidRequest("The request is not a JSON object."))
    missing = [k for k in _ENVELOPE if not isinstance(event.get(k), str) or not event.get(k)]
    if missing:
        return str(
            InvalidRequest(
                f"The request lacks {', '.join(missing)}; it is not a CloudFormation "
                "custom resource request."
            )
        )
    try:
        check_request_type(event["RequestType"])
    except InvalidRequest as invalid:
        return str(invalid)
    return None
