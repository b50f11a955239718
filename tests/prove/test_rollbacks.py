"""A failed Update's rollback restores the previous state exactly, whatever the Update
had done before it failed.

CloudFormation answers a FAILED Update by sending the old properties again. The
function must then be able to take back what it held: here, a hand-made role
it had adopted under ``ExistingRolePolicy: Fail`` (which refuses a foreign role
it does not already hold a claim on).
"""

from __future__ import annotations

from dms_prereq.catalogue import REDSHIFT_ROLE, VPC_ROLE

from testkit.console import make_console_role
from testkit.views import snapshot
from tests.prove.world import World

ONLY_REDSHIFT = {
    "CreateVpcRole": "false",
    "CreateCloudWatchLogsRole": "false",
    "CreateRedshiftRole": "true",
    "PropagationDelaySeconds": "0",
}


def test_rollback_of_a_failed_update_takes_back_a_role_held_under_fail_policy(
    world: World,
) -> None:
    make_console_role(world.iam, REDSHIFT_ROLE, owners_policies=True, tag_count=1)
    stack = world.stack("careful")
    assert stack.create(**ONLY_REDSHIFT)["Status"] == "SUCCESS"
    held = {**ONLY_REDSHIFT, "ExistingRolePolicy": "Fail"}
    assert stack.update(**held)["Status"] == "SUCCESS"  # already its claim: allowed
    # Somebody makes dms-vpc-role by hand, with a trust policy DMS cannot use.
    make_console_role(
        world.iam, VPC_ROLE, principals=("ec2.amazonaws.com",), owners_policies=True, tag_count=1
    )
    before = snapshot(world.iam)

    failed = stack.update(
        CreateVpcRole="true", CreateRedshiftRole="false", ExistingRolePolicy="Fail"
    )
    assert failed["Status"] == "FAILED"
    rolled_back = stack.rollback()

    assert rolled_back["Status"] == "SUCCESS", rolled_back["Reason"]
    assert snapshot(world.iam) == before
