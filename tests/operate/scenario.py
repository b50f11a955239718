"""A DMS account to point the command-line tool at, built on moto_server.

Stacks are real CloudFormation stacks in moto (so ``DescribeStacks`` knows
them), each with a stand-in resource at the logical id the claim names; the
claims are made by the function's own Create code
(:func:`dms_prereq.resource.provision`), exactly as a deploy would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from dms_prereq import resource
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, RoleSpec
from dms_prereq.request import Request

from testkit.console import make_console_role, wipe_roles
from testkit.local_aws import MotoServer
from testkit.stack import load_event, stack_id

LOGICAL_ID = "DmsRoles"


def template(logical_id: str = LOGICAL_ID) -> str:
    """A stack whose resource stands in for Custom::DmsPrerequisiteRoles (moto cannot run one)."""
    return json.dumps({"Resources": {logical_id: {"Type": "AWS::SQS::Queue"}}})


@dataclass
class Account:
    """The moto account, with the clients the scenarios use."""

    server: MotoServer

    @cached_property
    def iam(self) -> Any:
        return self.server.client("iam")

    @cached_property
    def cloudformation(self) -> Any:
        return self.server.client("cloudformation")

    def clear(self) -> None:
        """Remove every role, customer policy and stack: cheaper than a moto reset.

        A reset makes moto load the AWS managed policies again (about 2 s a test).
        """
        wipe_roles(self.iam)
        for policy in self.iam.list_policies(Scope="Local")["Policies"]:
            self.iam.delete_policy(PolicyArn=policy["Arn"])
        for stack in self.cloudformation.describe_stacks()["Stacks"]:
            self.delete_stack(stack["StackId"])

    def create_stack(self, name: str) -> str:
        """A live stack holding the resource; returns its StackId."""
        answer = self.cloudformation.create_stack(StackName=name, TemplateBody=template())
        return str(answer["StackId"])

    def delete_stack(self, stack: str) -> None:
        self.cloudformation.delete_stack(StackName=stack)

    def claim(self, stack: str, **properties: Any) -> dict[str, str]:
        """Run the function's Create for the resource in ``stack``; returns its attributes."""
        event = load_event("create")
        event.update(StackId=stack, LogicalResourceId=LOGICAL_ID)
        event["ResourceProperties"] = {"ServiceToken": "unused", **properties}
        answer = resource.provision(
            self.iam, Request.parse(event), remaining_seconds=lambda: 300.0, sleep=lambda _: None
        )
        return answer.attributes

    def console_role(
        self, role: RoleSpec, *, principals: tuple[str, ...] | None = None, managed: bool = True
    ) -> None:
        """A role made by hand, as the DMS console makes it (no tags of this project)."""
        make_console_role(self.iam, role, principals=principals, with_managed_policy=managed)

    def tags(self, role: RoleSpec) -> dict[str, str]:
        found = self.iam.list_role_tags(RoleName=role.name)["Tags"]
        return {t["Key"]: t["Value"] for t in found}


def never_created_stack(name: str = "vanished") -> str:
    """A well-formed stack id CloudFormation has never heard of."""
    return stack_id(name)


def demo(account: Account) -> dict[str, str]:
    """Two stacks sharing the roles, one of them Redshift's too, beside a console-made role.

    Returns the stack ids by name.
    """
    account.console_role(CLOUDWATCH_LOGS_ROLE)
    stacks = {name: account.create_stack(name) for name in ("orders-dms", "billing-dms")}
    account.claim(stacks["orders-dms"])
    account.claim(stacks["billing-dms"], CreateRedshiftRole="true")
    return stacks
