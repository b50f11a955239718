"""A failed Update's rollback answers SUCCESS, whatever the Update had done before it failed.

CloudFormation answers a FAILED Update by sending the old properties again. The
function must then answer SUCCESS and hold what the old properties enable: here, a
hand-made role it had adopted under ``ExistingRolePolicy: Fail`` (which refuses a
foreign role it does not already hold a claim on). Updates only add claims
(spec.md, "Update: add-only"), so what the failed Update claimed stays claimed until
the resource is deleted, and its Delete then takes every claim back; a role somebody
made by hand is never changed. IAM is the unkind stand-in; the invariant of the
suites is checked after every step.
"""

from __future__ import annotations

from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, VPC_ROLE
from dms_prereq.ownership import Ownership

from testkit.views import snapshot, view
from tests.prove.world import PARTITION, World, claim_of

ONLY_REDSHIFT = {
    "CreateVpcRole": "false",
    "CreateCloudWatchLogsRole": "false",
    "CreateRedshiftRole": "true",
    "PropagationDelaySeconds": "0",
}


def test_rollback_of_a_failed_update_holds_again_a_role_held_under_fail_policy(
    world: World,
) -> None:
    world.console_role(REDSHIFT_ROLE, owners_policies=True, tag_count=1)
    stack = world.stack("careful")
    problems: list[str] = []

    def step(name: str, answer: dict[str, object], expected: str, *, settled: bool = True) -> None:
        world.step()
        assert answer["Status"] == expected, f"{name}: {answer.get('Reason')}"
        problems.extend(world.check(name, settled=settled))

    step("create", stack.create(**ONLY_REDSHIFT), "SUCCESS")
    held = {**ONLY_REDSHIFT, "ExistingRolePolicy": "Fail"}
    step("update under Fail", stack.update(**held), "SUCCESS")  # already its claim: allowed
    # Somebody makes dms-vpc-role by hand, with a trust policy DMS cannot use.
    world.console_role(VPC_ROLE, principals=("ec2.amazonaws.com",), owners_policies=True)
    before = snapshot(world.iam)

    failed = stack.update(
        CreateVpcRole="true", CreateRedshiftRole="false", ExistingRolePolicy="Fail"
    )
    step("the failed update", failed, "FAILED", settled=False)
    assert VPC_ROLE.name in str(failed["Reason"]) and "ExistingRolePolicy" in str(failed["Reason"])
    rolled_back = stack.rollback()
    step("the rollback", rolled_back, "SUCCESS")

    assert rolled_back["Data"]["RedshiftRoleArn"].endswith(f":role/{REDSHIFT_ROLE.name}")
    after = snapshot(world.iam)
    claim = claim_of(stack)
    assert Ownership.of(after[REDSHIFT_ROLE.name].tags).holds(claim)
    # The failed Update enabled dms-cloudwatch-logs-role too (by default): if it got as far
    # as claiming it, the claim stays, on a role this project made, with its policy.
    made = set(after) - set(before)
    assert made <= {CLOUDWATCH_LOGS_ROLE.name}, f"unexpected roles {made}"
    for name in made:
        role = view(world.iam, name)
        assert role is not None and role.origin == "created"
        if Ownership.of(role.tags).holds(claim):
            assert CLOUDWATCH_LOGS_ROLE.managed_policy_arn(PARTITION) in role.policy_arns

    step("the delete", stack.delete(), "SUCCESS")
    left = snapshot(world.iam)
    assert not [n for n, r in left.items() if Ownership.of(r.tags).holds(claim)], "claims left"
    assert not problems, "\n".join(problems)
