"""Least privilege, proven: every IAM, CloudFormation, DMS and EC2 call the function made
is allowed by template.yaml, and template.yaml grants no action, role, stack or managed
policy the function never uses.

Calls are recorded across the whole session (testkit/evidence.py, hooked
into every in-process invocation and every race worker; the function's
CloudFormation, DMS and EC2 clients too where ``testkit.evidence.RecordingClients``
stands in for its client cache). The checks run last (``evidence_check``), and
first replay the representative requests and sweeps themselves
(tests/prove/scenarios.py: a sweep that asks every enabled region, deletes roles,
re-attaches a policy, sets and removes a boundary), so they mean the same when this
file runs alone. The policy is evaluated by tests/prove/policy.py, not by moto
(whose enforcement is partial).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import ACCOUNT
from testkit.calls import IamCall
from testkit.evidence import EVIDENCE
from tests.prove.policy import (
    RUNTIME_ACTIONS,
    TEMPLATE,
    FunctionPolicy,
    Request,
    matches,
    requests_of,
    role_arn,
)
from tests.prove.scenarios import PLAYED, SCENARIOS, SWEEP_SCENARIOS, replay, replay_sweep
from tests.prove.world import FIGURES, World


def replay_representative_scenarios(world: World) -> None:
    """Every representative scenario played to the end in this session, so that its calls
    are in the evidence: those the other suites did not play are played here."""
    for scenario in SCENARIOS:
        if scenario.name not in PLAYED:
            played, answer = replay(world, scenario)
            assert answer["Status"] == "SUCCESS", f"{scenario.name}: {answer['Reason']}"
            assert not (problems := played.check(scenario.name)), problems
            played.step()
    for sweeps in SWEEP_SCENARIOS:
        if sweeps.name not in PLAYED:
            played, runs = replay_sweep(world, sweeps)
            assert not (problems := played.check(sweeps.name)), problems
            played.step(len(runs))
    names = [s.name for s in SCENARIOS] + [s.name for s in SWEEP_SCENARIOS]
    assert set(names) <= PLAYED, f"not played: {set(names) - PLAYED}"


def _call(action: str, role: str, policy: str | None = None, *, tags: bool = False) -> IamCall:
    return IamCall(action, role, policy, tags, started=0.0)


def _other(service: str, action: str, stack: str | None = None) -> IamCall:
    return IamCall(action, None, None, False, started=0.0, service=service, stack=stack)


@pytest.mark.evidence_check
def test_every_call_of_the_session_is_allowed_by_the_function_policy(world: World) -> None:
    replay_representative_scenarios(world)
    calls = EVIDENCE.calls
    policies: dict[tuple[str, str], FunctionPolicy] = {}
    denied = []
    for invocation in list(EVIDENCE.invocations):
        where = (invocation.partition, invocation.account)
        if where not in policies:
            policies[where] = FunctionPolicy.load(*where)
        denied += [
            f"{r.action} on {r.resource} {dict(r.context)} ({invocation.source})"
            for call in invocation.calls
            for r in requests_of(call, *where)
            if not policies[where].allows(r)
        ]
    services = {call.service for call in calls}
    FIGURES.add(world.suite, "calls checked against the function policy", len(calls))
    FIGURES.add(world.suite, "calls the function policy would deny", len(denied))
    FIGURES.add(world.suite, "services called", len(services))
    assert {"iam", "cloudformation", "dms", "ec2"} <= services, f"only {services} recorded"
    assert not denied, "denied:\n" + "\n".join(sorted(set(denied))[:30])


@pytest.mark.evidence_check
def test_function_policy_grants_nothing_the_function_never_uses(world: World) -> None:
    replay_representative_scenarios(world)
    policy = FunctionPolicy.load()
    requests = [
        r
        for invocation in list(EVIDENCE.invocations)
        if (invocation.partition, invocation.account) == ("aws", ACCOUNT)
        for call in invocation.calls
        for r in requests_of(call)
    ]
    unused = []
    grants = policy.grants()
    for action, resource in grants:
        if action.lower() in RUNTIME_ACTIONS:
            # The Lambda service ships the logs with these: only the function's own group.
            assert resource.startswith(policy.log_group_arn), f"{action} on {resource}"
    # Every action granted is called, and every resource and condition value granted is
    # used by some call: a statement grants its actions on its resources as one set.
    for action in dict.fromkeys(a for a, _ in grants if a.lower() not in RUNTIME_ACTIONS):
        if not any(matches(action, r.action, case=False) for r in requests):
            unused.append(f"action {action}")
    for resource in dict.fromkeys(r for a, r in grants if a.lower() not in RUNTIME_ACTIONS):
        if not any(matches(resource, r.resource, case=True) for r in requests):
            unused.append(f"resource {resource}")
    used_policies = {r.context_dict.get("iam:PolicyARN") for r in requests}
    unused += [f"iam:PolicyARN {v}" for v in policy.condition_values() if v not in used_policies]
    FIGURES.add(world.suite, "grants of the function policy checked for use", len(grants))
    FIGURES.add(world.suite, "grants never used", len(unused))
    assert not unused, "granted but never used:\n" + "\n".join(unused)


def test_policy_evaluation_denies_what_the_template_does_not_grant(tmp_path: Path) -> None:
    policy = FunctionPolicy.load()
    vpc_policy = "arn:aws:iam::aws:policy/service-role/AmazonDMSVPCManagementRole"
    allowed = [
        _call("CreateRole", "dms-vpc-role", tags=True),
        _call("AttachRolePolicy", "dms-vpc-role", vpc_policy),
        _call("DeleteRole", "dms-access-for-endpoint"),
    ]
    denied = [
        _call("DeleteRole", "some-admin-role"),
        _call("AttachRolePolicy", "dms-vpc-role", "arn:aws:iam::aws:policy/AdministratorAccess"),
        _call("DetachRolePolicy", "dms-vpc-role", None),
        _call("PutRolePolicy", "dms-vpc-role"),
        _call("PassRole", "dms-vpc-role"),
    ]
    own_stack = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/app/0f1e2d3c"
    foreign_stack = "arn:aws:cloudformation:eu-west-1:999999999999:stack/app/0f1e2d3c"
    allowed += [
        _other("cloudformation", "DescribeStackResource", own_stack),
        _other("cloudformation", "ListStackResources", own_stack),
        _other("dms", "DescribeReplicationConfigs"),
        _other("ec2", "DescribeRegions"),
    ]
    denied += [
        _other("cloudformation", "DescribeStacks", foreign_stack),
        _other("cloudformation", "DeleteStack", own_stack),
        _other("dms", "DeleteReplicationInstance"),
        _other("ec2", "DescribeInstances"),
    ]
    elsewhere = _call("GetRole", "dms-vpc-role")
    assert all(policy.allows(r) for c in allowed for r in requests_of(c))
    assert not [c for c in denied if all(policy.allows(r) for r in requests_of(c))]
    assert not all(policy.allows(r) for r in requests_of(elsewhere, "aws", "999999999999"))

    # Without iam:TagRole, CreateRole with Tags is refused by IAM: the check must see it.
    text = TEMPLATE.read_text()
    assert "                  - iam:TagRole\n" in text
    narrowed = tmp_path / "template.yaml"
    narrowed.write_text(text.replace("                  - iam:TagRole\n", ""))
    without_tag_role = FunctionPolicy.load(path=narrowed)
    create = _call("CreateRole", "dms-vpc-role", tags=True)
    assert not all(without_tag_role.allows(r) for r in requests_of(create))
    assert without_tag_role.allows(Request("iam:CreateRole", role_arn(create)))
