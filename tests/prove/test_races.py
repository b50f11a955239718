"""Races: many stacks create, update and delete claims on the same roles at the same moment.

Eight execution environments (processes, each a cold start of the function)
serve eight stacks against one real moto_server over HTTP, round after round:
every stack sends its request at once, CloudFormation-style (Create when the
stack has no resource, else Update or Delete). After each round the roles must
be exactly what the live claims need:

* a role exists whenever a live claim needs it, and carries exactly the claims
  of the stacks whose properties enable it;
* a role this project made and nobody needs is gone; one it did not make
  (the console role) is never deleted and keeps its trust policy and policies;
* every request got exactly one answer, and it was SUCCESS.

The sequence is random but seeded (``PROVE_SEED``), so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from dms_prereq.catalogue import REDSHIFT_ROLE, ROLES
from dms_prereq.ownership import ORIGIN_KEY, TAG_PREFIX

from testkit import REGION
from testkit.console import make_console_role
from testkit.evidence import EVIDENCE, leaks
from testkit.stack import SimulatedStack
from testkit.views import RoleView, view
from tests.prove.conftest import worker_environment
from tests.prove.workers import Environments
from tests.prove.world import (
    BOUNDARY_A,
    BOUNDARY_B,
    PARTITION,
    SignedStandIn,
    enabled_roles,
    make_boundaries,
)

pytestmark = pytest.mark.slow

STACKS = 8
ROUNDS = 20
SEED = int(os.environ.get("PROVE_SEED", "20260101"))


def _observer(url: str) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="observer",
        aws_secret_access_key="observer",
    )


def _not_invoked(event: dict[str, Any]) -> None:
    raise AssertionError("stacks in this module only build requests")


def random_properties(rng: random.Random) -> dict[str, Any]:
    props: dict[str, Any] = {
        "CreateVpcRole": rng.choice(["true", "true", "true", "false"]),
        "CreateCloudWatchLogsRole": rng.choice(["true", "false"]),
        "CreateRedshiftRole": rng.choice(["true", "false"]),
        "RestrictToSourceAccount": rng.choice(["true", "false"]),
        "PropagationDelaySeconds": "0",
    }
    boundary = rng.choice([None, BOUNDARY_A, BOUNDARY_B])
    if boundary:
        props["PermissionsBoundary"] = boundary
    if rng.random() < 0.5:
        props["Tags"] = [{"Key": "team", "Value": rng.choice(["a", "b"])}]
    return props


@dataclass
class Plan:
    stack: SimulatedStack
    request_type: str
    properties: dict[str, Any] | None
    event: dict[str, Any]


def plan_round(
    rng: random.Random, stacks: list[SimulatedStack], live: dict[str, dict[str, Any] | None]
) -> list[Plan]:
    plans = []
    for stack in stacks:
        current = live[stack.name]
        if current is None:
            props = random_properties(rng)
            plans.append(Plan(stack, "Create", props, stack.request("Create", props)))
        elif rng.random() < 0.45:
            plans.append(Plan(stack, "Delete", None, stack.request("Delete", current)))
        else:
            props = random_properties(rng)
            plans.append(Plan(stack, "Update", props, stack.request("Update", props, current)))
    return plans


def wrong_states(
    iam: Any, live: dict[str, dict[str, Any] | None], console: dict[str, RoleView]
) -> list[str]:
    wrong = []
    for spec in ROLES:
        needed = {n for n, p in live.items() if p is not None and spec.name in enabled_roles(p)}
        role = view(iam, spec.name)
        made_by_hand = console.get(spec.name)
        if role is None:
            if needed or made_by_hand:
                wrong.append(f"{spec.name} is gone but {sorted(needed)} need it")
            continue
        tags = role.tags
        claims = role.claimants
        if claims != needed:
            wrong.append(f"{spec.name} is claimed by {sorted(claims)}, needed by {sorted(needed)}")
        if made_by_hand:
            if (
                role.trust != made_by_hand.trust
                or role.inline != made_by_hand.inline
                or not made_by_hand.policy_arns <= role.policy_arns
            ):
                wrong.append(f"{spec.name}, made by hand, lost its trust policy or policies")
            if not needed and any(k.startswith(TAG_PREFIX) for k in tags):
                wrong.append(f"{spec.name}, made by hand and unclaimed, keeps this project's tags")
        else:
            if not needed:
                wrong.append(f"{spec.name} outlived its last claim")
            if tags.get(ORIGIN_KEY) != "created":
                wrong.append(f"{spec.name} lost its created-mark")
            if spec.managed_policy_arn(PARTITION) not in role.policy_arns:
                wrong.append(f"{spec.name} lacks {spec.managed_policy}")
    return wrong


def test_concurrent_stacks_leave_exactly_the_roles_live_claims_need(
    iam_url: str, signed_cfn: SignedStandIn
) -> None:
    iam = _observer(iam_url)
    make_boundaries(iam)  # also loads the managed policies before the first round
    console = {
        REDSHIFT_ROLE.name: make_console_role(iam, REDSHIFT_ROLE, owners_policies=True, tag_count=1)
    }
    environment = worker_environment(iam_url)
    rng = random.Random(SEED)
    stacks = [
        SimulatedStack(name=f"racer-{i}", invoke=_not_invoked, cfn=signed_cfn)
        for i in range(STACKS)
    ]
    live: dict[str, dict[str, Any] | None] = {s.name: None for s in stacks}
    problems: list[str] = []
    requests = 0
    with Environments(STACKS, environment) as environments:
        for round_number in range(ROUNDS):
            plans = plan_round(rng, stacks, live)
            results = environments.run([p.event for p in plans], source="races")
            requests += len(plans)
            for plan, result in zip(plans, results, strict=True):
                where = f"round {round_number} {plan.stack.name} {plan.request_type}"
                answers = signed_cfn.bodies(signed_cfn.key_of(plan.event["ResponseURL"]))
                if result.error or len(answers) != 1:
                    problems.append(f"{where}: {len(answers)} answers, error {result.error}")
                    continue
                if answers[0]["Status"] != "SUCCESS":
                    problems.append(f"{where}: FAILED {answers[0]['Reason']}")
                    continue
                plan.stack.physical_id = answers[0]["PhysicalResourceId"]
                live[plan.stack.name] = plan.properties
            problems += [f"round {round_number}: {w}" for w in wrong_states(iam, live, console)]
        output = environments.output()
    secrets = tuple(s for inv in EVIDENCE.invocations for s in inv.secrets)
    EVIDENCE.count("race rounds", ROUNDS)
    EVIDENCE.count("concurrent requests in races", requests)
    EVIDENCE.count("wrong end states after races", len(problems))
    assert not problems, "\n".join(problems[:20])
    # Log lines written during invocations come back with their evidence; what a worker
    # wrote outside them (cold start) is in its output file.
    assert not leaks(output, secrets), "a worker wrote a secret to stdout or stderr"
