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
from .ownership import MAX_TAG_VALUE_LENGTH

REQUEST_TYPES = ("Create", "Update", "Delete")
PHYSICAL_ID_PREFIX = "DmsPrerequisiteRoles-"
_STACK_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):cloudformation:(?P<region>[a-z0-9-]+):"
    r"(?P<account>\d{12}):stack/(?P<name>[A-Za-z][A-Za-z0-9-]{0,127})/(?P<uuid>[A-Za-z0-9-]+)$"
)


@dataclass(frozen=True)
class ResourceRef:
    """One Custom::DmsPrerequisiteRoles resource in one stack."""

    stack_id: str
    logical_id: str
    partition: str
    account: str
    stack_name: str

    @classmethod
    def parse(cls, stack_id: object, logical_id: object) -> ResourceRef:
        match = _STACK_ARN.match(stack_id) if isinstance(stack_id, str) else None
        if not match:
            raise InvalidRequest("StackId is not a CloudFormation stack ARN.")
        if not isinstance(logical_id, str) or not logical_id:
            raise InvalidRequest("LogicalResourceId is missing or not a string.")
        return cls(
            stack_id=str(stack_id),
            logical_id=logical_id,
            partition=match["partition"],
            account=match["account"],
            stack_name=match["name"],
        )

    @property
    def claim_id(self) -> str:
        digest = hashlib.sha256(f"{self.stack_id}|{self.logical_id}".encode()).hexdigest()
        return digest[:20]

    @property
    def physical_id(self) -> str:
        # Never derive this from anything an Update can change (properties, role
        # names): a new id on Update makes CloudFormation send a Delete for the
        # old one, and that Delete would release this very resource's claims.
        return PHYSICAL_ID_PREFIX + self.claim_id

    @property
    def label(self) -> str:
        """Human-readable claim value: the stack id (for prune) and the logical id.

        A tag value holds MAX_TAG_VALUE_LENGTH characters; a stack ARN is at most
        about 230, so the logical id is cut if need be. The claim id in the key stays exact.
        """
        return f"{self.stack_id} {self.logical_id}"[:MAX_TAG_VALUE_LENGTH]


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
