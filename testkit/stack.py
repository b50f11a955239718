"""Playing CloudFormation: a stack's lifecycle of requests to the function.

Requests are built from ``events/*.json`` (the one source of sample requests),
with the stack's own StackId, a fresh RequestId and a ResponseURL on the
:class:`~testkit.local_aws.CloudFormationStandIn`. ``update`` fills
OldResourceProperties from the previous request, as CloudFormation does, and
``rollback`` sends the previous properties again.

With a :class:`~testkit.cfn_api.CloudFormationApi` (``api``), the stack also
shows CloudFormation's side as the real service would while the request runs:
the stack and this resource ``CREATE_IN_PROGRESS`` during a Create, and so on,
then the settled status the answer leads to. The function checks exactly that
before it changes anything, and the sweep reads it to tell live claims from
stale ones. ``send(event, as_operation=False)`` delivers a request outside any
operation (a forged, replayed or late one) and changes nothing there.
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
from testkit.cfn_api import CloudFormationApi
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


def stack_id(
    name: str, partition: str = "aws", account: str = ACCOUNT, region: str | None = None
) -> str:
    """A stack's ARN, the same for the same arguments (the partition's first region unless
    told ``region``)."""
    seed = f"{partition}/{account}/{name}" if region is None else f"{region}/{account}/{name}"
    stable = uuid.uuid5(uuid.NAMESPACE_URL, seed)
    region = region or REGIONS[partition]
    return f"arn:{partition}:cloudformation:{region}:{account}:stack/{name}/{stable}"


@dataclass
class SimulatedStack:
    """One stack holding one Custom::DmsPrerequisiteRoles resource."""

    name: str
    invoke: Invoke
    cfn: CloudFormationStandIn
    logical_id: str = "DmsRoles"
    partition: str = "aws"
    #: The stack's account; another than the function's plays a stack that names a
    #: ServiceToken of another account.
    account: str = ACCOUNT
    #: The stack's region; None for the partition's first (us-east-1 in aws). The roles are
    #: global: a stack of another region claims them through its region's deployment.
    region: str | None = None
    properties: dict[str, Any] | None = None
    physical_id: str | None = None
    #: Properties before the last successful update, for a rollback.
    previous: dict[str, Any] | None = None
    #: Properties of the last update that answered FAILED.
    failed_update: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: CloudFormation's stack reads; None plays no CloudFormation side (VerifyRequests off).
    api: CloudFormationApi | None = None
    #: The next Delete is the rollback of a failed Create; the next Update a rollback.
    rolling_back: bool = False

    @property
    def stack_id(self) -> str:
        return stack_id(self.name, self.partition, self.account, self.region)

    def _begin(self, request_type: str) -> None:
        """The statuses CloudFormation shows while it waits for this request's answer."""
        if self.api is None:
            return
        stack_status = {
            "Create": "CREATE_IN_PROGRESS",
            "Update": "UPDATE_ROLLBACK_IN_PROGRESS" if self.rolling_back else "UPDATE_IN_PROGRESS",
            "Delete": "ROLLBACK_IN_PROGRESS" if self.rolling_back else "DELETE_IN_PROGRESS",
        }[request_type]
        self.api.put_stack(self.stack_id, stack_status)
        self.api.put_resource(self.stack_id, self.logical_id, f"{request_type.upper()}_IN_PROGRESS")

    def _end(self, request_type: str, status: str) -> None:
        """The settled statuses the answer leads to."""
        if self.api is None:
            return
        ok = status == "SUCCESS"
        if request_type == "Delete":
            if self.rolling_back:
                self.api.put_resource(self.stack_id, self.logical_id, "DELETE_COMPLETE")
                self.api.put_stack(self.stack_id, "ROLLBACK_COMPLETE")
            else:
                self.api.delete_stack(self.stack_id)
            self.rolling_back = False
            return
        if request_type == "Update" and self.rolling_back:
            self.api.put_resource(self.stack_id, self.logical_id, "UPDATE_COMPLETE")
            self.api.put_stack(self.stack_id, "UPDATE_ROLLBACK_COMPLETE")
            self.rolling_back = False
            return
        verb = request_type.upper()
        self.api.put_resource(
            self.stack_id, self.logical_id, f"{verb}_COMPLETE" if ok else f"{verb}_FAILED"
        )
        if ok:
            self.api.put_stack(self.stack_id, f"{verb}_COMPLETE")
        else:
            # CloudFormation rolls back: a failed Create is followed by a Delete, a
            # failed Update by an Update to the previous properties.
            rollback = "ROLLBACK_IN_PROGRESS" if verb == "CREATE" else "UPDATE_ROLLBACK_IN_PROGRESS"
            self.api.put_stack(self.stack_id, rollback)
            self.rolling_back = True

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

    def send(
        self, event: dict[str, Any], timeout: float = 60.0, *, as_operation: bool = True
    ) -> dict[str, Any]:
        """Invoke the function and return the one answer CloudFormation received.

        ``as_operation``: CloudFormation shows the request's operation in progress
        meanwhile (see the module docstring); False for a request from outside one.
        """
        if as_operation:
            self._begin(event["RequestType"])
        self.invoke(event)
        key = self.cfn.key_of(event["ResponseURL"])
        body = self.cfn.wait_for(key, timeout=timeout)
        self.history.append({"request": event, "answer": body})
        if as_operation:
            self._end(event["RequestType"], str(body["Status"]))
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
        self.rolling_back = True
        if self.failed_update is not None:
            body = self.send(self.request("Update", self.properties, self.failed_update))
            self.failed_update = None
            return body
        body = self.send(self.request("Update", self.previous, self.properties))
        self.properties, self.previous = self.previous, None
        return body

    def delete(self) -> dict[str, Any]:
        return self.send(self.request("Delete", self.properties))
