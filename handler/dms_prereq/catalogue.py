"""The roles AWS DMS looks up by exact name: the one catalogue of them.

Everything else (the handler, the command-line tool, the template check, the
docs generator and the tests) reads names, principals and managed policies
from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DMS_PRINCIPAL = "dms.amazonaws.com"
REDSHIFT_PRINCIPAL = "redshift.amazonaws.com"


class DmsUse(StrEnum):
    """Kinds of DMS resources that rely on a role by its name (the sweep asks DMS for each)."""

    REPLICATION_INSTANCES = "replication instances"
    SUBNET_GROUPS = "replication subnet groups"
    REPLICATION_CONFIGS = "serverless replication configs"
    REDSHIFT_ENDPOINTS = "redshift endpoints"


#: Endpoint engines that use dms-access-for-endpoint (DMS user guide, "Using an Amazon
#: Redshift database as a target").
REDSHIFT_ENGINES = ("redshift", "redshift-serverless")


@dataclass(frozen=True)
class RoleSpec:
    """One role DMS needs, and how this project manages it."""

    name: str
    #: The boolean property that enables it.
    enable_property: str
    #: The Fn::GetAtt attribute that holds its ARN.
    arn_attribute: str
    #: Service principals that must be able to assume it. They are the same in
    #: every partition (aws, aws-cn, aws-us-gov, ...).
    principals: tuple[str, ...]
    #: Name of the AWS managed policy, below ``policy/service-role/``.
    managed_policy: str
    #: Whether a resource manages it when the property is not given.
    enabled_by_default: bool
    #: What it is for, for humans.
    purpose: str
    #: The DMS resources that use it: while any exists, the sweep never deletes it.
    used_by: tuple[DmsUse, ...] = ()

    def managed_policy_arn(self, partition: str) -> str:
        return f"arn:{partition}:iam::aws:policy/service-role/{self.managed_policy}"

    def role_arn(self, partition: str, account: str) -> str:
        return f"arn:{partition}:iam::{account}:role/{self.name}"

    def trust_policy(self, account: str | None) -> dict[str, Any]:
        """The trust policy this project writes; ``account`` adds aws:SourceAccount."""
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": list(self.principals)},
            "Action": "sts:AssumeRole",
        }
        if account is not None:
            statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
        return {"Version": "2012-10-17", "Statement": [statement]}


VPC_ROLE = RoleSpec(
    name="dms-vpc-role",
    enable_property="CreateVpcRole",
    arn_attribute="VpcRoleArn",
    principals=(DMS_PRINCIPAL,),
    managed_policy="AmazonDMSVPCManagementRole",
    enabled_by_default=True,
    purpose="lets DMS manage the network interfaces of replication instances and subnet groups",
    used_by=(DmsUse.REPLICATION_INSTANCES, DmsUse.SUBNET_GROUPS, DmsUse.REPLICATION_CONFIGS),
)
CLOUDWATCH_LOGS_ROLE = RoleSpec(
    name="dms-cloudwatch-logs-role",
    enable_property="CreateCloudWatchLogsRole",
    arn_attribute="CloudWatchLogsRoleArn",
    principals=(DMS_PRINCIPAL,),
    managed_policy="AmazonDMSCloudWatchLogsRole",
    enabled_by_default=True,
    purpose="lets DMS write task and instance logs to CloudWatch Logs",
    used_by=(DmsUse.REPLICATION_INSTANCES, DmsUse.REPLICATION_CONFIGS),
)
REDSHIFT_ROLE = RoleSpec(
    name="dms-access-for-endpoint",
    enable_property="CreateRedshiftRole",
    arn_attribute="RedshiftRoleArn",
    principals=(DMS_PRINCIPAL, REDSHIFT_PRINCIPAL),
    managed_policy="AmazonDMSRedshiftS3Role",
    enabled_by_default=False,
    purpose="lets DMS and Redshift stage data in S3 for Redshift target endpoints",
    used_by=(DmsUse.REDSHIFT_ENDPOINTS,),
)

ROLES: tuple[RoleSpec, ...] = (VPC_ROLE, CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE)
ROLES_BY_NAME: dict[str, RoleSpec] = {role.name: role for role in ROLES}
