"""Create, Update and Delete of one resource, as CloudFormation and IAM see them."""

from __future__ import annotations

from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, VPC_ROLE
from tests.roles_view import claimants, view

DEFAULT_ROLES = (VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name)


def test_create_makes_both_default_roles_with_policy_trust_and_claim(stack, iam, sleeps):
    a = stack("pipeline-a")
    body = a.create(PropagationDelaySeconds="7")

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["CreatedRoles"] == "dms-vpc-role,dms-cloudwatch-logs-role"
    assert body["Data"]["AdoptedRoles"] == ""
    assert body["Data"]["RedshiftRoleArn"] == ""
    for name, policy in (
        (VPC_ROLE.name, "AmazonDMSVPCManagementRole"),
        (CLOUDWATCH_LOGS_ROLE.name, "AmazonDMSCloudWatchLogsRole"),
    ):
        role = view(iam, name)
        assert role is not None
        assert role.origin == "created"
        assert role.attached == {policy}
        assert role.trust["Statement"][0]["Principal"]["Service"] == ["dms.amazonaws.com"]
        assert claimants(iam, name) == {"pipeline-a"}
    assert body["Data"]["VpcRoleArn"] == view(iam, VPC_ROLE.name).arn
    assert view(iam, REDSHIFT_ROLE.name) is None
    assert sleeps == [7.0]
