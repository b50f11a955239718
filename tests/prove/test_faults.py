"""Every IAM call of Create, Update and Delete, failed on purpose, against IAM as it behaves.

The function talks to :class:`~testkit.unkind_iam.UnkindIam` (reads up to Δ old,
409s, IAM's tag rules). The matrix is generated from the calls a fault-free run
records (see :mod:`tests.prove.faults`), so a call the function starts to make
tomorrow is covered without editing this file:

* each call fails once with Throttling, ServiceFailure (HTTP 500), a connection
  error, a lost answer (IAM did the work, the 500 came after), 409
  ConcurrentModification and EntityTemporarilyUnmodifiable (writes only; the
  function retries them itself, since botocore does not), and every call that
  follows a CreateRole on the same role once with NoSuchEntity (IAM's eventual
  consistency): the operation still answers SUCCESS, with the attributes,
  propagation wait and end state of the fault-free run. The three roles are
  worked on by independent threads, so one play fails one call of each role at once;
* every operation, and the sweeps, also run with IAM answering 409 to a third of
  all writes: survived, never reported, same end state (for the sweeps: they still
  release, mark, delete, re-attach and apply the settings);
* each (action, role) is denied for good, and so is the request check's
  CloudFormation read: a Create or Update answers FAILED naming the action (and
  the role), an Update's rollback then answers SUCCESS, and a Delete removes this
  resource's claims, nothing else. A Delete never answers FAILED: what it could
  not release, the next sweep releases (its stack is gone).

After every step the world's invariant holds (:meth:`tests.prove.world.World.check`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dms_prereq.iam
import pytest
from dms_prereq.ownership import ORIGIN_KEY, Ownership

from testkit.views import RoleView, snapshot
from tests.prove.faults import CONFLICTS, TRANSIENT, CallKey, Fault, FaultPlan
from tests.prove.scenarios import (
    PLAYED,
    SCENARIOS,
    SUBJECT,
    SWEEP_SCENARIOS,
    Scenario,
    SweepScenario,
    replay_sweep,
)
from tests.prove.world import (
    CONFLICTS as CONFLICTS_FIGURE,
)
from tests.prove.world import (
    FIGURES,
    Scenery,
    World,
    claim_of,
)

pytestmark = pytest.mark.slow

#: A join waits out the rest of PropagationDelaySeconds from the role's CreateDate, so
#: two runs wait a little differently (IAM's CreateDate has whole seconds).
WAIT_TOLERANCE_SECONDS = 1.5
#: Share of writes IAM answers 409 in the conflict runs.
CONFLICT_RATE = 0.34


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The function's pauses between tries of a write IAM answered 409: recorded, not slept
    (``dms_prereq.iam.pause`` is where they go, for tests to count)."""
    recorded: list[float] = []
    monkeypatch.setattr(dms_prereq.iam, "pause", recorded.append)
    return recorded


@dataclass
class Outcome:
    world: World
    answer: dict[str, Any]
    before: dict[str, RoleView]
    after: dict[str, RoleView]
    keys: list[CallKey]
    injected: dict[CallKey, int]
    #: The propagation waits the operation asked for.
    waits: list[float]
    #: Invariant violations seen after the act.
    violations: list[str]


_SCENERY: dict[str, Scenery] = {}


def prepared(world: World, scenario: Scenario) -> World:
    """A world holding the scenario's scenery: played once for real (as scenery, no read
    lagging behind it), then restored directly in IAM for every further play."""
    if scenario.name not in _SCENERY:
        first = world.fresh()
        with first.long_ago():
            scenario.prepare(first)
        _SCENERY[scenario.name] = first.scenery()
    return world.restore(_SCENERY[scenario.name])


_BEFORE: dict[str, dict[str, RoleView]] = {}
_BASELINES: dict[str, Outcome] = {}


def baseline_of(world: World, scenario: Scenario) -> Outcome:
    """The scenario played without faults (once per session: its scenery never changes)."""
    if scenario.name not in _BASELINES:
        _BASELINES[scenario.name] = play(world, scenario)
    found = _BASELINES[scenario.name]
    assert found.answer["Status"] == "SUCCESS", found.answer["Reason"]
    assert not found.violations, found.violations
    return found


def play(world: World, scenario: Scenario, plans: Sequence[FaultPlan] = ()) -> Outcome:
    """The scenario's operation on its scenery, with ``plans`` armed."""
    world = prepared(world, scenario)
    if scenario.name not in _BEFORE:  # the scenery is the same in every play
        _BEFORE[scenario.name] = snapshot(world.iam)
    waited = len(world.harness.waits)
    world.tap.start(plans)
    try:
        answer = scenario.act(world)
    finally:
        world.tap.stop()
    world.step()
    if not plans and answer["Status"] == "SUCCESS":
        PLAYED.add(scenario.name)  # its calls are in the evidence now
    where = f"{scenario.name} {[str(p.target) for p in plans]}"
    after = snapshot(world.iam)
    violations = world.check(where, settled=answer["Status"] == "SUCCESS", roles=after)
    return Outcome(
        world,
        answer,
        _BEFORE[scenario.name],
        after,
        list(world.tap.keys),
        dict(world.tap.injected),
        world.harness.waits[waited:],
        violations,
    )


def transient_plays(baseline: Outcome, fault: Fault) -> Iterator[tuple[FaultPlan, ...]]:
    """Every call of the fault-free run that can meet ``fault``, one call of each role per
    play: NoSuchEntity only after the role's own CreateRole, 409s only on writes."""
    made = set(baseline.after) - set(baseline.before)
    created: set[str] = set()
    by_role: dict[str, list[CallKey]] = {}
    for key in dict.fromkeys(baseline.keys):
        is_read = key.action.startswith(("Get", "List"))
        after_create = key.role in created
        if not (fault is Fault.NO_SUCH_ENTITY and not after_create) and not (
            fault.writes_only and is_read
        ):
            by_role.setdefault(key.role, []).append(key)
        if key.action == "CreateRole" and key.role in made:
            created.add(key.role)
    for index in range(max((len(keys) for keys in by_role.values()), default=0)):
        yield tuple(FaultPlan(keys[index], fault) for keys in by_role.values() if index < len(keys))


def _waits_match(got: list[float], expected: list[float]) -> bool:
    return len(got) == len(expected) and all(
        abs(a - b) <= WAIT_TOLERANCE_SECONDS for a, b in zip(got, expected, strict=True)
    )


def _problems_after_transient(
    outcome: Outcome, baseline: Outcome, plans: Sequence[FaultPlan], retries: int
) -> list[str]:
    problems = list(outcome.violations)
    missed = [str(p.target) for p in plans if not outcome.injected.get(p.target)]
    if missed:
        problems.append(f"never injected: {missed}")
    fault = plans[0].fault
    if fault is Fault.NO_SUCH_ENTITY:
        for plan in plans:
            again = CallKey(plan.target.action, plan.target.role, plan.target.occurrence + 1)
            if again not in outcome.keys:
                problems.append(f"{plan.target}: the function did not call again")
    elif retries < sum(outcome.injected.values()):
        problems.append(f"{retries} retries for {sum(outcome.injected.values())} faults")
    if outcome.answer["Status"] != "SUCCESS":
        problems.append(f"answered {outcome.answer['Status']}: {outcome.answer['Reason']}")
    elif outcome.answer["Data"] != baseline.answer["Data"]:
        problems.append(f"attributes {outcome.answer['Data']} != {baseline.answer['Data']}")
    if not _waits_match(outcome.waits, baseline.waits):
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
    world: World, scenario: Scenario, fault: Fault, backoff: list[float], pauses: list[float]
) -> None:
    baseline = baseline_of(world, scenario)
    plays = list(transient_plays(baseline, fault))
    assert plays, f"no call of the fault-free run can meet {fault.name}"

    failures = []
    injected = survived = 0
    for plans in plays:
        retries_before = len(pauses if fault in CONFLICTS else backoff)
        outcome = play(world, scenario, plans)
        retries = len(pauses if fault in CONFLICTS else backoff) - retries_before
        problems = _problems_after_transient(outcome, baseline, plans, retries)
        failures += [f"{[str(p.target) for p in plans]} {fault.name}: {p}" for p in problems]
        injected += len(plans)
        survived += 0 if problems else len(plans)
    FIGURES.add(world.suite, f"transient faults injected ({fault.name.lower()})", injected)
    FIGURES.add(world.suite, "transient faults survived", survived)
    if fault in CONFLICTS:
        FIGURES.add(world.suite, CONFLICTS_FIGURE, injected)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_conflicts_on_a_third_of_all_writes_are_survived_never_reported(
    world: World, scenario: Scenario, pauses: list[float]
) -> None:
    baseline = baseline_of(world, scenario)
    assert world.unkind is not None
    conflicts_before = sum(world.unkind.stats()["conflicts"].values())
    world.unkind.configure(conflict_rate=CONFLICT_RATE)
    try:
        outcome = play(world, scenario)
    finally:
        world.unkind.configure(conflict_rate=0.0)
    conflicts = sum(world.unkind.stats()["conflicts"].values()) - conflicts_before

    assert conflicts > 0, "IAM answered no 409"
    assert outcome.answer["Status"] == "SUCCESS", outcome.answer["Reason"]
    assert outcome.answer["Data"] == baseline.answer["Data"]
    assert _waits_match(outcome.waits, baseline.waits), (outcome.waits, baseline.waits)
    assert outcome.after == baseline.after
    assert not outcome.violations, outcome.violations


@pytest.mark.parametrize("scenario", SWEEP_SCENARIOS, ids=lambda s: s.name)
def test_sweeps_survive_conflicts_on_a_third_of_all_writes(
    world: World, scenario: SweepScenario, pauses: list[float]
) -> None:
    unkind = world.unkind
    assert unkind is not None
    unkind.configure(conflict_rate=CONFLICT_RATE)
    try:
        # replay_sweep insists the sweeps did what the scenario is for (released, marked,
        # deleted; re-attached, set and removed the settings), 409s or not.
        stormy, runs = replay_sweep(world, scenario)
        conflicts = sum(unkind.stats()["conflicts"].values())  # counted from fresh()
    finally:
        unkind.configure(conflict_rate=0.0)
    stormy.step(len(runs))

    assert conflicts > 0, "IAM answered no 409"
    failed = [run.summary.get("failed_lookups") for run in runs if run.summary]
    assert not any(failed), f"409s were reported as failures: {failed}"
    assert not (problems := stormy.check(f"{scenario.name} with 409s")), problems


# -- permanent denials --------------------------------------------------------------------


def _claims(role: RoleView) -> frozenset[str]:
    return frozenset(Ownership.of(role.tags).claims)


def _after_release(before: dict[str, RoleView], now: dict[str, RoleView], claim: str) -> list[str]:
    """Once the subject's claim is released: every role from before is there with its
    claims less the subject's; a role made since carries this project's mark and no claim."""
    problems = []
    for name, role in before.items():
        left = now.get(name)
        if left is None:
            problems.append(f"{name} is gone (requests never delete a role)")
        elif _claims(left) != _claims(role) - {claim}:
            problems.append(f"{name}: claims {sorted(_claims(left))}, not as before less ours")
    for name in set(now) - set(before):
        made = now[name]
        if made.tags.get(ORIGIN_KEY) != "created" or _claims(made):
            problems.append(f"{name}, made meanwhile, is not this project's unclaimed role")
    return problems


def denial_plans(baseline: Outcome) -> Iterator[FaultPlan]:
    pairs = dict.fromkeys((k.action, k.role) for k in baseline.keys)
    for action, role in pairs:
        yield FaultPlan(CallKey(action, role, 1), Fault.ACCESS_DENIED, permanent=True)


def _check_failed_answer(where: str, answer: dict[str, Any], action: str, role: str) -> list[str]:
    reason = answer["Reason"]
    problems = []
    if answer["Status"] != "FAILED":
        return [f"{where}: answered {answer['Status']}"]
    if action not in reason or role not in reason:
        problems.append(f"{where}: reason does not name {action} and {role}: {reason!r}")
    if len(reason) > 256 or "Traceback" in reason:
        problems.append(f"{where}: reason is not one short sentence: {reason!r}")
    return problems


def _finish(outcome: Outcome, scenario: Scenario, where: str) -> list[str]:
    """What CloudFormation does after the act (a rollback, a Delete), and the sweep that
    finishes a Delete that could not release everything; the invariant after each."""
    world, problems = outcome.world, list(outcome.violations)
    subject = world.stack(SUBJECT)
    if scenario.operation == "Update":
        rolled_back = subject.rollback()
        world.step()
        if rolled_back["Status"] != "SUCCESS":
            problems.append(f"{where}: rollback answered {rolled_back['Reason']}")
        # Add-only: a role only the failed Update enabled keeps its claim, maybe without
        # the policy it was denied, until the resource is deleted.
        problems += world.check(f"{where}, rollback", settled=False)
    if scenario.operation != "Delete":
        deleted = subject.delete()
        world.step()
        if deleted["Status"] != "SUCCESS":
            problems.append(f"{where}: the Delete afterwards answered {deleted['Reason']}")
    else:
        # What the Delete could not release, the sweep does: CloudFormation has deleted
        # the stack, so its claims are stale.
        swept = world.harness.sweep()
        world.step()
        if swept.error is not None or not swept.summary:
            problems.append(f"{where}: the sweep afterwards failed: {swept.error!r}")
    problems += world.check(f"{where}, released")
    problems += [
        f"{where}: {p}"
        for p in _after_release(outcome.before, snapshot(world.iam), claim_of(subject))
    ]
    return problems


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_denied_call_fails_naming_action_and_role_then_delete_releases_the_claim(
    world: World, scenario: Scenario
) -> None:
    baseline = baseline_of(world, scenario)
    plans = list(denial_plans(baseline))
    assert plans

    failures: list[str] = []
    for plan in plans:
        failed_before = len(failures)
        outcome = play(world, scenario, [plan])
        where = f"{plan.target.action}({plan.target.role})"
        if scenario.operation == "Delete":
            if outcome.answer["Status"] != "SUCCESS":
                failures.append(f"{where}: a Delete answered {outcome.answer['Status']}")
        else:
            failures += _check_failed_answer(
                where, outcome.answer, f"iam:{plan.target.action}", plan.target.role
            )
        failures += _finish(outcome, scenario, where)
        FIGURES.add(world.suite, "permanent denials injected")
        FIGURES.add(world.suite, "permanent denials cleaned up", len(failures) == failed_before)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_request_check_denied_fails_naming_the_permission_and_changes_nothing(
    world: World, scenario: Scenario
) -> None:
    action = "DescribeStackResource"
    world = prepared(world, scenario)
    before = snapshot(world.iam)
    assert world.cfn_api is not None
    world.cfn_api.deny(action)
    try:
        answer = scenario.act(world)
    finally:
        world.cfn_api.allow(action)
    world.step()
    FIGURES.add(world.suite, "request checks denied")

    if scenario.operation == "Delete":
        assert answer["Status"] == "SUCCESS", answer["Reason"]  # releases nothing
    else:
        assert answer["Status"] == "FAILED"
        assert f"cloudformation:{action}" in answer["Reason"], answer["Reason"]
    assert snapshot(world.iam) == before
    assert not (problems := world.check(f"{scenario.name}, {action} denied")), problems
