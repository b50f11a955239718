"""The CloudFormation request envelope, and the identity of one resource instance.

A resource instance is StackId + LogicalResourceId. Its claim id (the tag key
suffix on each role) and its physical resource id are derived from those two
alone, so every response for the same resource carries the same id without
any lookup or STS call.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest

REQUEST_TYPES = ("Create", "Update", "Delete")
PHYSICAL_ID_PREFIX = "DmsPrerequisiteRoles-"
_STACK_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):cloudformation:(?P<region>[a-z0-9-]+):"
    r"(?P<account>\d{12}):stack/(?P<name>[A-Za-z][A-Za-z0-9-]{0,127})/(?P<uuid>[A-Za-z0-9-]+)$"
)


def claim_id_for(stack_id: str, logical_id: str) -> str:
    """The claim id of a resource: the sweep recomputes it from a stack's logical ids."""
    return hashlib.sha256(f"{stack_id}|{logical_id}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class StackRef:
    """A stack, from its StackId (ARN): where to ask CloudFormation about it."""

    stack_id: str
    partition: str
    region: str
    account: str
    stack_name: str

    @classmethod
    def parse(cls, stack_id: object) -> StackRef | None:
        match = _STACK_ARN.match(stack_id) if isinstance(stack_id, str) else None
        if not match:
            return None
        return cls(
            stack_id=match.group(0),
            partition=match["partition"],
            region=match["region"],
            account=match["account"],
            stack_name=match["name"],
        )


@dataclass(frozen=True)
class ResourceRef:
    """One Custom::DmsPrerequisiteRoles resource in one stack."""

    stack: StackRef
    logical_id: str

    @classmethod
    def parse(cls, stack_id: object, logical_id: object) -> ResourceRef:
        stack = StackRef.parse(stack_id)
        if stack is None:
            raise InvalidRequest("StackId is not a CloudFormation stack ARN.")
        if not isinstance(logical_id, str) or not logical_id:
            raise InvalidRequest("LogicalResourceId is missing or not a string.")
        return cls(stack=stack, logical_id=logical_id)

    @property
    def stack_id(self) -> str:
        return self.stack.stack_id

    @property
    def partition(self) -> str:
        return self.stack.partition

    @property
    def account(self) -> str:
        return self.stack.account

    @property
    def stack_name(self) -> str:
        return self.stack.stack_name

    @property
    def claim_id(self) -> str:
        return claim_id_for(self.stack_id, self.logical_id)

    @property
    def physical_id(self) -> str:
        # Never derive this from anything an Update can change (properties, role
        # names): a new id on Update makes CloudFormation send a Delete for the
        # old one, and that Delete would release this very resource's claims.
        return PHYSICAL_ID_PREFIX + self.claim_id


def check_request_type(value: object) -> str:
    if value not in REQUEST_TYPES:
        shown = repr(value)[:40]
        raise InvalidRequest(f"RequestType must be one of {', '.join(REQUEST_TYPES)}, got {shown}.")
    return str(value)


def physical_id_for(event: object) -> str:
    """The id to answer with: the event's, else this resource's, else a fixed placeholder."""
    if isinstance(event, dict):
        given = event.get("PhysicalResourceId")
        if isinstance(given, str) and given:
            return given
        try:
            return ResourceRef.parse(
                event.get("StackId"), event.get("LogicalResourceId")
            ).physical_id
        except InvalidRequest:
            pass
    return PHYSICAL_ID_PREFIX + "invalid-request"


@dataclass(frozen=True)
class Request:
    """The parts of a custom resource request the domain uses."""

    request_type: str
    resource: ResourceRef
    physical_id: str | None
    properties: Any
    old_properties: Any

    @classmethod
    def parse(cls, event: object) -> Request:
        if not isinstance(event, dict):
            raise InvalidRequest("The request is not a JSON object.")
        request_type = check_request_type(event.get("RequestType"))
        physical_id = event.get("PhysicalResourceId")
        return cls(
            request_type=request_type,
            resource=ResourceRef.parse(event.get("StackId"), event.get("LogicalResourceId")),
            physical_id=physical_id if isinstance(physical_id, str) and physical_id else None,
            properties=event.get("ResourceProperties"),
            old_properties=event.get("OldResourceProperties"),
        )
