"""Playing CloudFormation: a stack's lifecycle of requests to the function.

Requests are built from ``events/*.json`` (the one source of sample requests),
with the stack's own StackId, a fresh RequestId and a ResponseURL on the
:class:`~testkit.local_aws.CloudFormationStandIn`. ``update`` fills
OldResourceProperties from the previous request, as CloudFormation does, and
``rollback`` sends the previous properties again.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit import ACCOUNT, REGION
from testkit.local_aws import CloudFormationStandIn

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
SERVICE_TOKEN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:dms-prerequisite-roles-Function"
REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

#: Runs the function on one request; what it returns (if anything) is not used.
Invoke = Callable[[dict[str, Any]], object]


def load_event(name: str) -> dict[str, Any]:
    """A sample request from events/, e.g. ``load_event("create")``."""
    data: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return data


def stack_id(name: str, partition: str = "aws", account: str = ACCOUNT) -> str:
    region = REGIONS[partition]
    stable = uuid.uuid5(uuid.NAMESPACE_URL, f"{partition}/{account}/{name}")
    return f"arn:{partition}:cloudformation:{region}:{account}:stack/{name}/{stable}"


@dataclass
class SimulatedStack:
    """One stack holding one Custom::DmsPrerequisiteRoles resource."""

    name: str
    invoke: Invoke
    cfn: CloudFormationStandIn
    logical_id: str = "DmsRoles"
    partition: str = "aws"
    properties: dict[str, Any] | None = None
    physical_id: str | None = None
    #: Properties before the last successful update, for a rollback.
    previous: dict[str, Any] | None = None
    #: Properties of the last update that answered FAILED.
    failed_update: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stack_id(self) -> str:
        return stack_id(self.name, self.partition)

    def request(
        self,
        request_type: str,
        properties: dict[str, Any] | None,
        old_properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The event CloudFormation would send, from the matching events/ sample."""
        sample = {"Create": "create", "Update": "update", "Delete": "delete"}[request_type]
        event = copy.deepcopy(load_event(sample))
        event.update(
            StackId=self.stack_id,
            RequestId=str(uuid.uuid4()),
            LogicalResourceId=self.logical_id,
            ResponseURL=self.cfn.response_url(),
        )
        event["ResourceProperties"] = {"ServiceToken": SERVICE_TOKEN, **(properties or {})}
        if request_type == "Update":
            event["OldResourceProperties"] = {
                "ServiceToken": SERVICE_TOKEN,
                **(old_properties or {}),
            }
        else:
            event.pop("OldResourceProperties", None)
        if request_type == "Create" or not self.physical_id:
            event.pop("PhysicalResourceId", None)
        else:
            event["PhysicalResourceId"] = self.physical_id
        return event

    def send(self, event: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        """Invoke the function and return the one answer CloudFormation received."""
        self.invoke(event)
        key = self.cfn.key_of(event["ResponseURL"])
        body = self.cfn.wait_for(key, timeout=timeout)
        self.history.append({"request": event, "answer": body})
        return body

    def create(self, **properties: Any) -> dict[str, Any]:
        body = self.send(self.request("Create", properties))
        self.physical_id = body["PhysicalResourceId"]
        self.properties = properties
        return body

    def update(self, **properties: Any) -> dict[str, Any]:
        body = self.send(self.request("Update", properties, self.properties))
        if body["Status"] == "SUCCESS":
            self.previous, self.properties, self.failed_update = self.properties, properties, None
        else:
            self.failed_update = properties
        return body

    def rollback(self) -> dict[str, Any]:
        """CloudFormation's rollback of the last update: the earlier properties again.

        After a FAILED update the resource goes back from the failed properties;
        after a successful one (another resource failed), from the new ones.
        """
        if self.failed_update is not None:
            body = self.send(self.request("Update", self.properties, self.failed_update))
            self.failed_update = None
            return body
        body = self.send(self.request("Update", self.previous, self.properties))
        self.properties, self.previous = self.previous, None
        return body

    def delete(self) -> dict[str, Any]:
        return self.send(self.request("Delete", self.properties))
