"""Recording the AWS calls a boto3 client makes, with botocore's event hooks.

One :class:`CallRecorder` hooks three events of one client (of any service:
IAM, and the CloudFormation, DMS and EC2 clients the request check and the
sweep use; ``service`` narrows it to one):

* ``before-parameter-build`` (once per API call, before its parameters
  are validated): the call starts, and what it names is known. It is
  recorded here, so a call botocore stops before sending still counts: the
  least-privilege check must see every call the function *asks* for;
* ``after-call`` (the call got an HTTP answer, error answers included);
* ``after-call-error`` (it got none, e.g. a connection that never opened).

Retries happen between the first and the last of these, so a throttled call
counts once and its retries count as time spent in IAM. The recorder is
thread-safe: the function works on the three roles in three threads. Any
number of recorders may watch one client, each keeping its own list.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class IamCall:
    """One API call: what, on which role, when (``time.monotonic``), and how it ended.

    Named for IAM, the service most calls go to; ``service`` says which one it was
    (the prefix of its IAM action, e.g. ``cloudformation`` for
    ``cloudformation:DescribeStacks``), ``region`` the client's region.
    """

    action: str
    role: str | None
    policy_arn: str | None
    #: CreateRole with Tags: real IAM also requires iam:TagRole for it.
    with_tags: bool
    started: float
    #: None while no answer has come (or never will: botocore stopped the call unsent).
    ended: float | None = None
    #: IAM's error code, or the exception that kept the call from an answer.
    error: str | None = None
    #: The IAM action prefix of the service called: iam, cloudformation, dms, ec2.
    service: str = "iam"
    #: The client's region (None for a client without one).
    region: str | None = None
    #: The StackName a CloudFormation call names (the function passes stack ARNs).
    stack: str | None = None

    @property
    def permission(self) -> str:
        """The IAM action that authorises the call, e.g. ``iam:GetRole``."""
        return f"{self.service}:{self.action}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IamCall:
        return cls(**data)


class _Entry:
    """A recorded call that may still be waiting for its answer."""

    def __init__(self, call: IamCall) -> None:
        self.call = call


#: botocore names a service's events by its hyphenated service id, which for DMS is
#: not its action prefix.
_EVENT_NAMES = {"dms": "database-migration-service"}


class CallRecorder:
    """Every call ``client`` makes from the moment the recorder is attached.

    ``service`` picks the calls of one service, by its action prefix (``iam``,
    ``cloudformation``, ``dms``, ``ec2``); None records whatever the client calls.
    A client only calls its own service, so the choice matters only for clarity.
    """

    def __init__(self, client: Any, *, service: str | None = "iam") -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._region: str | None = client.meta.region_name
        # Per recorder, so that several recorders on one client neither replace each
        # other's hooks (botocore drops a second handler with the same unique_id) nor
        # read each other's entries from the call's context.
        self._key = f"testkit.calls.{id(self)}"
        suffix = f".{_EVENT_NAMES.get(service, service)}" if service else ""
        events = client.meta.events
        events.register(
            "before-parameter-build" + suffix, self._on_start, unique_id=self._key + "-s"
        )
        events.register("after-call" + suffix, self._on_answer, unique_id=self._key + "-a")
        events.register("after-call-error" + suffix, self._on_failure, unique_id=self._key + "-f")

    def _on_start(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        role = params.get("RoleName")
        policy = params.get("PolicyArn")
        stack = params.get("StackName")
        entry = _Entry(
            IamCall(
                action=str(model.name),
                role=role if isinstance(role, str) else None,
                policy_arn=policy if isinstance(policy, str) else None,
                with_tags=bool(params.get("Tags")) and model.name == "CreateRole",
                started=time.monotonic(),
                # The signing name is the prefix of the service's IAM actions ("dms", not
                # "database-migration-service"; Service Authorization Reference).
                service=str(model.service_model.signing_name),
                region=self._region,
                stack=stack if isinstance(stack, str) else None,
            )
        )
        context[self._key] = entry
        with self._lock:
            self._entries.append(entry)

    def _finish(self, context: dict[str, Any], error: str | None) -> None:
        entry = context.get(self._key)
        if isinstance(entry, _Entry):
            with self._lock:
                entry.call = replace(entry.call, ended=time.monotonic(), error=error)

    def _on_answer(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        self._finish(context, str(code) if code else None)

    def _on_failure(self, context: dict[str, Any], exception: Exception, **_: Any) -> None:
        self._finish(context, type(exception).__name__)

    def take(self) -> list[IamCall]:
        """The calls recorded since the last take, in the order they started."""
        with self._lock:
            entries, self._entries = self._entries, []
            calls = [entry.call for entry in entries]
        return sorted(calls, key=lambda call: call.started)
