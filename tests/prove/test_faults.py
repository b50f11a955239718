"""Every IAM call of Create, Update and Delete, failed on purpose.

The matrix is generated from the calls a fault-free run records (see
:mod:`tests.prove.faults`), so a call the function starts to make tomorrow is
covered without editing this file:

* each call fails once with Throttling, ServiceFailure (HTTP 500), a
  connection error, and a lost answer (IAM did the work, the 500 came after),
  and every call that follows a CreateRole on the same role once with
  NoSuchEntity (IAM's eventual consistency): the operation still answers
  SUCCESS, with the attributes, propagation wait and end state of the
  fault-free run;
* each (action, role) is denied for good: the answer is FAILED naming the
  action and the role; then an Update's rollback restores the previous state
  and a Delete removes exactly what this claim made, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from dms_prereq.ownership import CLAIM_KEY_PREFIX, ORIGIN_KEY, claim_key
from dms_prereq.request import ResourceRef

from testkit.evidence import EVIDENCE
from testkit.views import RoleView, snapshot
from tests.prove.faults import TRANSIENT, CallKey, Fault, FaultPlan
from tests.prove.scenarios import SCENARIOS, SUBJECT, Scenario
from tests.prove.world import World

pytestmark = pytest.mark.slow

MANAGED_PREFIX = "arn:aws:iam::aws:policy/service-role/AmazonDMS"


@dataclass
class Outcome:
    world: World
    answer: dict[str, Any]
    before: dict[str, RoleView]
    after: dict[str, RoleView]
    keys: list[CallKey]
    injected: int
    #: The propagation waits the operation asked for.
    waits: list[float]


def play(world: World, scenario: Scenario, plan: FaultPlan | None) -> Outcome:
    """Prepare a fresh world, then run the scenario's operation with ``plan`` armed."""
    world = world.fresh()
    scenario.prepare(world)
    before = snapshot(world.iam)
    waited = len(world.harness.waits)
    world.tap.start(plan)
    try:
        answer = scenario.act(world)
    finally:
        world.tap.stop()
    injected = sum(world.tap.injected.values())
    keys = list(world.tap.keys)
    waits = world.harness.waits[waited:]
    return Outcome(world, answer, before, snapshot(world.iam), keys, injected, waits)


def transient_cases(baseline: Outcome, fault: Fault) -> Iterator[FaultPlan]:
    """One plan per recorded call; NoSuchEntity only for calls after the role's CreateRole."""
    made = set(baseline.after) - set(baseline.before)
    created: set[str] = set()
    for key in dict.fromkeys(baseline.keys):
        if fault is not Fault.NO_SUCH_ENTITY or key.role in created:
            yield FaultPlan(key, fault)
        if key.action == "CreateRole" and key.role in made:
            created.add(key.role)


def denial_cases(baseline: Outcome) -> Iterator[FaultPlan]:
    pairs = dict.fromkeys((k.action, k.role) for k in baseline.keys)
    for action, role in pairs:
        yield FaultPlan(CallKey(action, role, 1), Fault.ACCESS_DENIED, permanent=True)


def subject_claim(world: World) -> str:
    stack = world.stack(SUBJECT)
    return claim_key(ResourceRef.parse(stack.stack_id, stack.logical_id).claim_id)


def _carries_only_dms_policy(role: RoleView) -> bool:
    return (
        all(arn.startswith(MANAGED_PREFIX) for arn in role.policy_arns)
        and not role.inline
        and not role.instance_profiles
    )


def ownership(role: RoleView) -> tuple[Any, ...]:
    """What a Delete must leave exactly as it was: who made it, who claims it, what it
    carries; and for a role this project did not make, its trust policy and tags too."""
    tags = role.tags
    claims = frozenset(k for k in tags if k.startswith(CLAIM_KEY_PREFIX))
    foreign = tags.get(ORIGIN_KEY) != "created"
    return (
        tags.get(ORIGIN_KEY),
        claims,
        role.policy_arns,
        role.inline_documents,
        role.instance_profiles,
        role.trust if foreign else None,
        role.tags if foreign else None,
    )


def without_claim(before: dict[str, RoleView], claim: str) -> dict[str, tuple[Any, ...]]:
    """The ownership of each role once ``claim`` has gone, as the spec says it must be."""
    expected = {}
    for name, role in before.items():
        tags = {k: v for k, v in role.tags.items() if k != claim}
        claims_left = any(k.startswith(CLAIM_KEY_PREFIX) for k in tags)
        if tags.get(ORIGIN_KEY) == "created" and not claims_left and _carries_only_dms_policy(role):
            continue  # made by this project for this claim alone: deleted
        if tags.get(ORIGIN_KEY) == "adopted" and not claims_left:
            del tags[ORIGIN_KEY]  # a foreign role is left as it was found
        expected[name] = ownership(replace(role, tags=tags))
    return expected


def _problems_after_transient(
    outcome: Outcome, baseline: Outcome, plan: FaultPlan, retries: int
) -> list[str]:
    problems = []
    if outcome.injected == 0:
        problems.append("the fault was never injected")
    elif plan.fault is Fault.NO_SUCH_ENTITY:
        retried = CallKey(plan.target.action, plan.target.role, plan.target.occurrence + 1)
        if retried not in outcome.keys:
            problems.append("the function did not call again after NoSuchEntity")
    elif retries == 0:
        problems.append("botocore did not retry")
    if outcome.answer["Status"] != "SUCCESS":
        problems.append(f"answered {outcome.answer['Status']}: {outcome.answer['Reason']}")
    elif outcome.answer["Data"] != baseline.answer["Data"]:
        problems.append(f"attributes {outcome.answer['Data']} != {baseline.answer['Data']}")
    if outcome.waits != baseline.waits:
        problems.append(f"propagation waits {outcome.waits} != {baseline.waits}")
    if outcome.after != baseline.after:
        changed = sorted(
            n
            for n in set(outcome.after) | set(baseline.after)
            if outcome.after.get(n) != baseline.after.get(n)
        )
        problems.append(f"end state differs on {changed}")
    return problems


#: A Delete never creates a role, so no call of it can meet a just-created role's NoSuchEntity.
TRANSIENT_MATRIX = [
    pytest.param(scenario, fault, id=f"{scenario.name}-{fault.name.lower()}")
    for scenario in SCENARIOS
    for fault in TRANSIENT
    if not (fault is Fault.NO_SUCH_ENTITY and scenario.operation == "Delete")
]


@pytest.mark.parametrize(("scenario", "fault"), TRANSIENT_MATRIX)
def test_transient_fault_on_any_call_is_retried_to_the_same_end_state(
    world: World, scenario: Scenario, fault: Fault, backoff: list[float]
) -> None:
    baseline = play(world, scenario, None)
    assert baseline.answer["Status"] == "SUCCESS", baseline.answer["Reason"]
    cases = list(transient_cases(baseline, fault))
    assert cases, f"no call of the fault-free run can meet {fault.name}"

    failures = []
    survived = 0
    for plan in cases:
        retries_before = len(backoff)
        outcome = play(world, scenario, plan)
        problems = _problems_after_transient(outcome, baseline, plan, len(backoff) - retries_before)
        failures += [f"{plan.target} {fault.name}: {p}" for p in problems]
        survived += not problems
    EVIDENCE.count("transient faults injected", len(cases))
    EVIDENCE.count("transient faults survived", survived)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_denied_call_fails_naming_action_and_role_then_delete_cleans_up(
    world: World, scenario: Scenario
) -> None:
    baseline = play(world, scenario, None)
    assert baseline.answer["Status"] == "SUCCESS", baseline.answer["Reason"]
    cases = list(denial_cases(baseline))
    assert cases

    failures: list[str] = []
    for plan in cases:
        failed_before = len(failures)
        outcome = play(world, scenario, plan)
        where = f"{plan.target.action}({plan.target.role})"
        reason = outcome.answer["Reason"]
        if outcome.answer["Status"] != "FAILED":
            failures.append(f"{where}: answered {outcome.answer['Status']}")
            continue
        if f"iam:{plan.target.action}" not in reason or plan.target.role not in reason:
            failures.append(f"{where}: reason does not name action and role: {reason!r}")
        if len(reason) > 256 or "Traceback" in reason:
            failures.append(f"{where}: reason is not one short sentence: {reason!r}")
        subject = outcome.world.stack(SUBJECT)
        if scenario.operation == "Update":
            rolled_back = subject.rollback()
            if rolled_back["Status"] != "SUCCESS":
                failures.append(f"{where}: rollback answered {rolled_back['Reason']}")
            elif snapshot(outcome.world.iam) != outcome.before:
                failures.append(f"{where}: the rollback did not restore the previous state")
        deleted = subject.delete()
        if deleted["Status"] != "SUCCESS":
            failures.append(f"{where}: the Delete afterwards answered {deleted['Reason']}")
        claim = subject_claim(outcome.world)
        expected = without_claim(outcome.before, claim)
        left = {name: ownership(role) for name, role in snapshot(outcome.world.iam).items()}
        if left != expected:
            wrong = sorted(n for n in set(left) | set(expected) if left.get(n) != expected.get(n))
            failures.append(f"{where}: after the Delete, wrong state of {wrong}")
        EVIDENCE.count("permanent denials answered and cleaned up", len(failures) == failed_before)
    EVIDENCE.count("permanent denials injected", len(cases))
    assert not failures, "\n".join(failures)
