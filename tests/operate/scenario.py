"""A DMS account to point the command-line tool at: moto_server with the CloudFormation and DMS
stand-ins in front.

* IAM, STS, EC2 (DescribeRegions) and Lambda are moto_server's;
* CloudFormation's stack reads are :class:`testkit.cfn_api.CloudFormationApi`'s, whose
  stacks the scenarios set (moto's CloudFormation finishes every operation at once and
  knows no stack in progress or deleted behind the function's back);
* DMS is :class:`testkit.dms_api.DmsApi` in front of moto's (which lacks
  DescribeReplicationConfigs).

Claims are made by the function's own Create code (:func:`dms_prereq.resource.provision`),
exactly as a deploy would; :meth:`Account.deploy` leaves the function as ``sam deploy``
would for the tool to read its settings: its stack, and its environment.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import boto3
from dms_prereq import resource
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, RoleSpec
from dms_prereq.ownership import UNCLAIMED_SINCE_KEY
from dms_prereq.request import Request
from dms_prereq.settings import AccountSettings

from testkit import ACCOUNT, REGION
from testkit.cfn_api import CloudFormationApi, stack_arn
from testkit.console import make_console_role, wipe_roles
from testkit.dms_api import DmsApi
from testkit.local_aws import CREDENTIALS, MotoServer
from testkit.stack import load_event, stack_id

LOGICAL_ID = "DmsRoles"
#: Where the scenarios keep DMS resources, and so the regions the deployment asks.
DMS_REGIONS = (REGION, "eu-west-1")
#: The deployment as `sam deploy` names it: its stack, and the function in it.
DEPLOYMENT_STACK_NAME = "dms-prerequisite-roles"
FUNCTION_NAME = "dms-prerequisite-roles-Function-0A1B2C3D4E5F"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"
#: Settings the scenarios' deployment has unless told otherwise: DMS asked where the
#: scenarios put resources, and no settle time (a deletion would otherwise wait 2 × 60 s).
TEST_SETTINGS = {"DMS_REGIONS": ",".join(DMS_REGIONS), "SWEEP_SETTLE_SECONDS": "0"}


def _zip() -> bytes:
    """A code package for moto's Lambda, which stores it and never runs it here."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


@dataclass
class Account:
    """The account, with the clients and stand-ins the scenarios use."""

    server: MotoServer
    cfn_api: CloudFormationApi
    dms_api: DmsApi

    def _moto(self, service: str, region: str = REGION) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.server.url,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    @cached_property
    def iam(self) -> Any:
        return self._moto("iam")

    def dms(self, region: str = REGION) -> Any:
        return self._moto("dms", region)

    def env(self) -> dict[str, str]:
        """Where the tool's calls go: moto, except CloudFormation and DMS (the stand-ins)."""
        return {
            "AWS_ENDPOINT_URL": self.server.url,
            **self.cfn_api.env(),
            **self.dms_api.env(),
        }

    def clear(self) -> None:
        """Remove every role, customer policy, stack, DMS resource and function.

        Cheaper than a moto reset, which makes moto load the AWS managed policies
        again (about 2 s a test).
        """
        wipe_roles(self.iam)
        for policy in self.iam.list_policies(Scope="Local")["Policies"]:
            self.iam.delete_policy(PolicyArn=policy["Arn"])
        self.cfn_api.reset()
        self.dms_api.reset()
        for region in DMS_REGIONS:
            dms = self.dms(region)
            for group in dms.describe_replication_subnet_groups()["ReplicationSubnetGroups"]:
                dms.delete_replication_subnet_group(
                    ReplicationSubnetGroupIdentifier=group["ReplicationSubnetGroupIdentifier"]
                )
            for endpoint in dms.describe_endpoints()["Endpoints"]:
                dms.delete_endpoint(EndpointArn=endpoint["EndpointArn"])
            for instance in dms.describe_replication_instances()["ReplicationInstances"]:
                dms.delete_replication_instance(
                    ReplicationInstanceArn=instance["ReplicationInstanceArn"]
                )
        functions = self._moto("lambda")
        for function in functions.list_functions()["Functions"]:
            functions.delete_function(FunctionName=function["FunctionName"])

    # -- the deployment ---------------------------------------------------------------------
    def deploy(self, *, stacks: tuple[str, ...] = (DEPLOYMENT_STACK_NAME,), **settings: str) -> str:
        """The function, deployed with ``settings`` (environment variables) over TEST_SETTINGS,
        as the ``Function`` of each of ``stacks`` (a StackSet's instance has another name).

        moto's Lambda wants an execution role that exists; it is made for the call and
        deleted after, so that the account holds only the roles a scenario makes.
        """
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = self.iam.create_role(
            RoleName="dms-prerequisite-roles-FunctionRole",
            AssumeRolePolicyDocument=json.dumps(trust),
        )["Role"]
        try:
            created = self._moto("lambda").create_function(
                FunctionName=FUNCTION_NAME,
                Runtime="python3.13",
                Role=role["Arn"],
                Handler="app.lambda_handler",
                Code={"ZipFile": _zip()},
                Environment={"Variables": {**TEST_SETTINGS, **settings}},
            )
        finally:
            self.iam.delete_role(RoleName=role["RoleName"])
        for name in stacks:
            stack = stack_id(name)
            self.cfn_api.put_stack(stack, "CREATE_COMPLETE")
            self.cfn_api.put_resource(
                stack,
                "Function",
                "CREATE_COMPLETE",
                type="AWS::Lambda::Function",
                physical_id=FUNCTION_NAME,
            )
        return str(created["FunctionArn"])

    # -- stacks and their claims --------------------------------------------------------------
    def create_stack(self, name: str, region: str = REGION) -> str:
        """A live stack holding the resource, as CloudFormation shows it; returns its StackId."""
        stack = stack_id(name) if region == REGION else stack_arn(name, region=region)
        self.cfn_api.put_stack(stack, "CREATE_COMPLETE")
        self.cfn_api.put_resource(stack, LOGICAL_ID, "CREATE_COMPLETE")
        return stack

    def delete_stack(self, stack: str) -> None:
        """The stack deleted without its Delete reaching the function (retained, or broken)."""
        self.cfn_api.delete_stack(stack)

    def remove_resource(self, stack: str) -> None:
        """An update took the resource out of the template (DeletionPolicy: Retain kept it)."""
        self.cfn_api.remove_resource(stack, LOGICAL_ID)
        self.cfn_api.put_stack(stack, "UPDATE_COMPLETE")

    def claim(
        self, stack: str, settings: AccountSettings | None = None, **properties: Any
    ) -> dict[str, str]:
        """Run the function's Create for the resource in ``stack``; returns its attributes."""
        event = load_event("create")
        event.update(StackId=stack, LogicalResourceId=LOGICAL_ID)
        event["ResourceProperties"] = {"ServiceToken": "unused", **properties}
        answer = resource.provision(
            self.iam,
            Request.parse(event),
            settings or AccountSettings(),
            remaining_seconds=lambda: 300.0,
            sleep=lambda _: None,
        )
        return answer.attributes

    # -- what people do by hand -------------------------------------------------------------
    def console_role(
        self, role: RoleSpec, *, principals: tuple[str, ...] | None = None, managed: bool = True
    ) -> None:
        """A role made by hand, as the DMS console makes it (no tags of this project)."""
        make_console_role(self.iam, role, principals=principals, with_managed_policy=managed)

    def console_subnet_group(self, region: str, name: str = "console-made") -> None:
        """A replication subnet group made in the console: it relies on dms-vpc-role by name."""
        self.dms(region).create_replication_subnet_group(
            ReplicationSubnetGroupIdentifier=name,
            ReplicationSubnetGroupDescription="made in the console",
            SubnetIds=["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
        )

    def mark_unclaimed(self, role: RoleSpec, ago: timedelta) -> None:
        """The mark a sweep left ``ago``, as if it had run then."""
        since = (datetime.now(UTC) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.iam.tag_role(RoleName=role.name, Tags=[{"Key": UNCLAIMED_SINCE_KEY, "Value": since}])

    def tags(self, role: RoleSpec) -> dict[str, str]:
        found = self.iam.list_role_tags(RoleName=role.name)["Tags"]
        return {t["Key"]: t["Value"] for t in found}

    def role_names(self) -> set[str]:
        return {r["RoleName"] for r in self.iam.list_roles()["Roles"]}


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
