"""A claimant against the sweep's two deletion phases, every dangerous interleaving forced.

Requests only add claims (version 2); what can take a role away is the sweep, which
deletes a role nobody claims in two phases (:mod:`dms_prereq.sweep`):

    mark deleting-since - settle - re-read - detach - settle - re-read - DeleteRole

A claimant (another stack's Create: :func:`dms_prereq.resource.provision`, which
reads the role, tags its claim, attaches the policy and, if it met the deletion,
waits out the settle time and attaches once more) may run at any point of it,
while IAM answers every read as old as Δ allows (UnkindIam with ``min_lag`` =
``max_lag`` = Δ, below the settle time: the worst a read can be).

Each schedule holds the claimant's read (its first call), its claim (TagRole) and
its attach until the sweep reaches a chosen point: between the sweep's read and its
mark, at a moment of a settle (the sweep's ``sleep`` is injected, so that a claim
lands at its start, at a chosen offset, or at its very end, just before the
re-read), before the detach, before or after DeleteRole. The sweep waits at each
point until the claimant has done what the schedule puts there.

In every schedule the claimant is answered SUCCESS and, from that moment on, at
every later point of the sweep and at the end, its role exists with its claim and
its managed policy; at the end no deletion mark is left. IAM is read for these
checks as it really is (moto), never through the lagging proxy.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from dms_prereq.catalogue import ROLES, RoleSpec
from dms_prereq.dms_usage import DmsSurvey
from dms_prereq.ownership import (
    DELETING_SINCE_KEY,
    ORIGIN_KEY,
    UNCLAIMED_SINCE_KEY,
    Origin,
    Ownership,
)
from dms_prereq.request import Request
from dms_prereq.resource import provision
from dms_prereq.settings import AccountSettings
from dms_prereq.stacks import StackLookup
from dms_prereq.sweep import Sweeper

from testkit import ACCOUNT
from testkit.invoke import load_app
from testkit.views import view
from tests.prove.world import (
    CHECKS,
    DELTA,
    FIGURES,
    PARTITION,
    SETTLE_SECONDS,
    VIOLATIONS,
    World,
    claim_of,
    new_client,
)

pytestmark = pytest.mark.slow

#: Δ for this suite: every read of a role written within Δ sees it as Δ ago. The
#: claimant counts a claim whose read and tag lie more than a quarter of the settle time
#: S apart as having met a deletion (dms_prereq.roles). One that neither saw the mark
#: (so it read less than Δ after it) nor was that slow tagged less than Δ + S/4 after
#: the mark, and the first re-read, S after the mark, sees what is older than Δ: it sees
#: the claim only if Δ + S/4 <= S - Δ. So Δ must stay at or below 3S/8, not merely
#: below S (at the default S of 60 s: 22.5 s, far above IAM's documented lag).
LAG = DELTA
SETTLE = float(SETTLE_SECONDS)
assert LAG <= 3 * SETTLE / 8, "reads lag too long for the settle time to cover them"
#: A hold waits at most this long for the sweep to reach its point.
PATIENCE = 30.0

# The sweep's points, in order; a settle's points are moments of it (seconds in).
READ, SETTLE_1, DETACH, SETTLE_2, DELETE, DELETED, FINISHED = range(7)
PHASES = ("read", "settle-1", "detach", "settle-2", "delete", "deleted", "finished")


@dataclass(frozen=True, order=True)
class At:
    """A point of the sweep: ``READ`` (between its read and its mark), a moment of a
    settle (``offset`` seconds into it; SETTLE for its end, just before the re-read),
    ``DETACH`` (before the detach), ``DELETE`` (before DeleteRole), ``DELETED``."""

    phase: int
    offset: float = 0.0

    def __str__(self) -> str:
        name = PHASES[self.phase]
        if self.phase in (SETTLE_1, SETTLE_2):
            return f"{name}+{self.offset:g}s" if self.offset < SETTLE else f"{name} end"
        return name


@dataclass(frozen=True)
class Schedule:
    """Where the claimant's read, claim and attach happen."""

    read: At
    tag: At
    attach: At

    def offsets(self, phase: int) -> list[float]:
        return sorted(
            {a.offset for a in (self.read, self.tag, self.attach) if a.phase == phase} - {SETTLE}
        )


class Lockstep:
    """The sweep and the claimant, each moving only as the schedule lets it.

    The sweep announces each point it reaches and then waits until the claimant is
    held for a later point, or free (sleeping out a settle time, or finished); the
    claimant's held calls wait until the sweep has reached their point.
    ``on_point`` runs at every point reached, in the sweep's thread.
    """

    def __init__(self, on_point: Callable[[At], None]) -> None:
        self._cv = threading.Condition()
        self._reached = At(-1)
        self._waiting_for: At | None = None
        self._free = False
        self.on_point = on_point
        self.timeouts: list[str] = []

    def _claimant_out_of_the_way(self) -> bool:
        waiting = self._waiting_for
        return self._free or (waiting is not None and waiting > self._reached)

    # -- the sweep's side ------------------------------------------------------------
    def reach(self, point: At) -> None:
        with self._cv:
            self._reached = max(self._reached, point)
            self._cv.notify_all()
            if not self._cv.wait_for(self._claimant_out_of_the_way, PATIENCE):
                self.timeouts.append(f"the sweep waited in vain for the claimant at {point}")
        self.on_point(point)

    @property
    def reached(self) -> At:
        with self._cv:
            return self._reached

    # -- the claimant's side -----------------------------------------------------------
    def hold_until(self, point: At) -> None:
        with self._cv:
            self._waiting_for = point
            self._cv.notify_all()
            if not self._cv.wait_for(lambda: self._reached >= point, PATIENCE):
                self.timeouts.append(f"the claimant waited in vain for {point}")
            self._waiting_for = None

    def free(self) -> None:
        """The claimant sleeps out a settle time or is done: the sweep goes on without it."""
        with self._cv:
            self._free = True
            self._cv.notify_all()


def _hold(client: Any, operation: str, until: Callable[[], None]) -> None:
    """Hold the client's first ``operation`` until ``until`` returns."""
    held = threading.Event()

    def before(**_: Any) -> None:
        if not held.is_set():
            held.set()
            until()

    client.meta.events.register(f"before-parameter-build.iam.{operation}", before)


@dataclass
class Play:
    """One schedule played on one role: what its claimant was answered and what was seen."""

    role: RoleSpec
    schedule: Schedule
    claim_id: str = ""
    answered: bool = False
    error: BaseException | None = None
    met_deletion: bool = False
    problems: list[str] = field(default_factory=list)
    sweep_kept: str = ""


def _as_created_and_unclaimed(world: World, role: RoleSpec) -> None:
    """The role as a sweep found it an hour ago: made by this project, no claim left,
    marked unclaimed. Written to IAM directly: old news to every read."""
    world.iam.create_role(
        RoleName=role.name,
        AssumeRolePolicyDocument=json.dumps(role.trust_policy(None)),
        Tags=[
            {"Key": ORIGIN_KEY, "Value": Origin.CREATED.value},
            {"Key": UNCLAIMED_SINCE_KEY, "Value": "2026-01-01T00:00:00Z"},
        ],
    )
    world.iam.attach_role_policy(RoleName=role.name, PolicyArn=role.managed_policy_arn(PARTITION))


def _promise_kept(world: World, role: RoleSpec, claim_id: str) -> list[str]:
    """The claimant's role, as IAM really holds it: there, claimed, with its policy."""
    found = view(world.iam, role.name)
    if found is None:
        return ["the role is gone"]
    problems = []
    if not Ownership.of(found.tags).holds(claim_id):
        problems.append("the claim is gone")
    if role.managed_policy_arn(PARTITION) not in found.policy_arns:
        problems.append("the managed policy is detached")
    return problems


def _only(role: RoleSpec) -> dict[str, str]:
    """Properties of a resource that manages ``role`` alone, with no propagation wait."""
    switches = {other.enable_property: str(other is role).lower() for other in ROLES}
    return {**switches, "PropagationDelaySeconds": "0"}


class Sweep:
    """One sweep of the three roles, each role's deletion in lockstep with its claimant.

    The Sweeper works on the roles in three threads; its hooks and its injected
    ``sleep`` find the role of the thread they run in.
    """

    def __init__(self, world: World, settings: AccountSettings, steps: dict[str, Lockstep]):
        assert world.unkind is not None
        self.steps = steps
        self._role_of: dict[int, str] = {}
        self._settles: dict[str, int] = {}
        self.schedules: dict[str, Schedule] = {}
        client = new_client(world.unkind.url)
        events = client.meta.events
        events.register("before-parameter-build.iam", self._before)
        events.register("after-call.iam.DeleteRole", self._after_delete)
        self.sweeper = Sweeper(
            client,
            StackLookup(load_app().CLIENTS.cloudformation, ACCOUNT),
            DmsSurvey(load_app().CLIENTS.dms, [], None),  # no region: DMS uses nothing
            settings,
            PARTITION,
            sleep=self._settle,
        )

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        role = str(params.get("RoleName", ""))
        context["interleavings.role"] = role
        self._role_of[threading.get_ident()] = role
        if role not in self.steps:
            return
        if model.name == "TagRole" and DELETING_SINCE_KEY in str(params.get("Tags")):
            self.steps[role].reach(At(READ))
        elif model.name == "DetachRolePolicy":
            self.steps[role].reach(At(DETACH))
        elif model.name == "DeleteRole":
            self.steps[role].reach(At(DELETE))

    def _after_delete(self, context: dict[str, Any], **_: Any) -> None:
        role = context.get("interleavings.role")
        if role in self.steps:
            self.steps[role].reach(At(DELETED))

    def _settle(self, seconds: float) -> None:
        assert seconds == SETTLE, f"the sweep settles {seconds} s, not {SETTLE}"
        role = self._role_of[threading.get_ident()]
        self._settles[role] = self._settles.get(role, 0) + 1
        phase = SETTLE_1 if self._settles[role] == 1 else SETTLE_2
        start = time.monotonic()
        for offset in [*self.schedules[role].offsets(phase), SETTLE]:
            time.sleep(max(0.0, start + offset - time.monotonic()))
            self.steps[role].reach(At(phase, offset))


def play(world: World, schedules: dict[RoleSpec, Schedule]) -> dict[str, Play]:
    """Each role deleted by one sweep while its own claimant claims it, on its schedule."""
    world = world.fresh()
    for role in schedules:
        _as_created_and_unclaimed(world, role)
    assert world.unkind is not None
    world.unkind.configure(min_lag=LAG, max_lag=LAG, arn_lag=0.0)
    settings = AccountSettings(retention_minutes=0, sweep_settle_seconds=SETTLE_SECONDS)
    plays: dict[str, Play] = {}
    steps: dict[str, Lockstep] = {}

    for role, schedule in schedules.items():
        outcome = plays[role.name] = Play(role, schedule)
        outcome.claim_id = claim_of(world.stack(f"claimant-{role.name}"))

        def check(point: At, outcome: Play = outcome) -> None:
            if outcome.answered:
                found = _promise_kept(world, outcome.role, outcome.claim_id)
                FIGURES.add(world.suite, CHECKS)
                FIGURES.add(world.suite, VIOLATIONS, len(found))
                outcome.problems += [f"at {point}, after SUCCESS: {p}" for p in found]

        steps[role.name] = Lockstep(check)

    sweep = Sweep(world, settings, steps)
    sweep.schedules = {role.name: schedule for role, schedule in schedules.items()}

    def claimant(outcome: Play) -> None:
        role, step = outcome.role, steps[outcome.role.name]
        client = new_client(world.unkind.url if world.unkind else None)
        _hold(client, "CreateRole", lambda: step.hold_until(outcome.schedule.read))
        _hold(client, "TagRole", lambda: step.hold_until(outcome.schedule.tag))
        _hold(client, "AttachRolePolicy", lambda: step.hold_until(outcome.schedule.attach))
        event = world.stack(f"claimant-{role.name}").request("Create", _only(role))

        def sleep(seconds: float) -> None:
            outcome.met_deletion = True
            step.free()
            time.sleep(seconds)

        try:
            provision(
                client,
                Request.parse(event),
                settings,
                remaining_seconds=lambda: 300.0,
                sleep=sleep,
            )
        except BaseException as error:
            outcome.error = error
        else:
            outcome.answered = True
            world.granted[role.name].add(outcome.claim_id)
            step.on_point(step.reached)
        finally:
            step.free()

    threads = [
        threading.Thread(target=claimant, args=(outcome,), name=f"claimant-{name}")
        for name, outcome in plays.items()
    ]
    for thread in threads:
        thread.start()
    report = sweep.sweeper.run()
    for step in steps.values():
        step.reach(At(FINISHED))  # a sweep that stopped early lets every held call go
    for thread in threads:
        thread.join(PATIENCE)
    world.step()

    for name, outcome in plays.items():
        kept = next(r for r in report.roles if r.role == name)
        outcome.sweep_kept = f"{kept.kept.value if kept.kept else 'deleted'}: {kept.why}"
        outcome.problems += steps[name].timeouts
        if outcome.error is not None:
            outcome.problems.append(f"the claimant was not answered SUCCESS: {outcome.error!r}")
        if not outcome.answered and outcome.error is None:
            outcome.problems.append("the claimant never finished")
        outcome.problems += [
            f"at the end: {p}" for p in _promise_kept(world, outcome.role, outcome.claim_id)
        ]
        left = view(world.iam, name)
        if left is not None and DELETING_SINCE_KEY in left.tags:
            outcome.problems.append("at the end the role still carries the deletion mark")
    problems = world.check("the schedules played")
    for outcome in plays.values():
        outcome.problems += problems
    return plays


def _early(offset: float) -> At:
    return At(SETTLE_1, offset)


#: Where the claimant's read, claim and attach land, by what the schedule shows.
SCHEDULES: dict[str, Schedule] = {
    # Between the sweep's read (no claim) and its mark: the first re-read sees the claim.
    "claim-between-the-sweeps-read-and-its-mark": Schedule(At(READ), At(READ), At(READ)),
    # The claimant's read misses the fresh mark (it lags Δ), and its claim follows soon:
    # the first re-read (Δ old) still sees it. (Through the stand-in the claim's two
    # writes often take longer than S/4, so the claimant also counts as slow: see LAG.)
    "read-misses-the-mark-and-a-quick-claim-is-seen": Schedule(
        _early(LAG - 0.1), _early(LAG + 0.05), _early(LAG + 0.05)
    ),
    # Read misses the mark, claim lands just before the first re-read (which misses it):
    # the slow claim counts as having met the deletion, so the claimant attaches again
    # after the settle; the sweep detaches, then sees the claim and re-attaches.
    "slow-claim-at-the-end-of-the-first-settle": Schedule(
        _early(0.05), At(SETTLE_1, SETTLE), At(SETTLE_1, SETTLE)
    ),
    "claim-at-the-end-of-the-first-settle": Schedule(
        At(SETTLE_1, SETTLE), At(SETTLE_1, SETTLE), At(SETTLE_1, SETTLE)
    ),
    # An old read, then a claim and attach right before the detach takes the policy away.
    "old-read-claim-just-before-the-detach": Schedule(At(READ), At(DETACH), At(DETACH)),
    "claim-just-before-the-detach": Schedule(At(DETACH), At(DETACH), At(DETACH)),
    "claim-as-the-second-settle-starts": Schedule(At(SETTLE_2), At(SETTLE_2), At(SETTLE_2)),
    # Lands just before the second re-read, which misses it: DeleteRole meets the policy.
    "claim-at-the-end-of-the-second-settle": Schedule(
        At(SETTLE_2, SETTLE), At(SETTLE_2, SETTLE), At(SETTLE_2, SETTLE)
    ),
    "tag-before-the-second-re-read-attach-just-before-delete-role": Schedule(
        At(SETTLE_2, SETTLE), At(SETTLE_2, SETTLE), At(DELETE)
    ),
    "claim-between-the-second-re-read-and-delete-role": Schedule(
        At(DELETE), At(DELETE), At(DELETE)
    ),
    # The role goes with the claim on it: the attach finds no role, the claimant makes it.
    "tag-before-delete-role-attach-after": Schedule(At(DELETE), At(DELETE), At(DELETED)),
    "read-before-delete-role-claim-after": Schedule(At(DELETE), At(DELETED), At(DELETED)),
    "claim-after-delete-role": Schedule(At(DELETED), At(DELETED), At(DELETED)),
    "old-read-everything-else-after-delete-role": Schedule(At(READ), At(DELETED), At(DELETED)),
}


#: The schedules, three at a time: one sweep deletes the three roles at once, each role in
#: its own thread, so each group plays three independent schedules in the time of one.
GROUPS = [list(SCHEDULES.items())[i : i + len(ROLES)] for i in range(0, len(SCHEDULES), len(ROLES))]


@pytest.mark.parametrize(
    "group", GROUPS, ids=[" + ".join(name for name, _ in group) for group in GROUPS]
)
def test_a_claimant_answered_success_keeps_its_role_and_policy_whatever_the_sweeps_phase(
    world: World, group: list[tuple[str, Schedule]]
) -> None:
    schedules = {role: schedule for role, (_, schedule) in zip(ROLES, group, strict=False)}
    names = {role.name: name for role, (name, _) in zip(ROLES, group, strict=False)}

    plays = play(world, schedules)

    failures = []
    for role_name, done in plays.items():
        FIGURES.add(world.suite, "schedules played")
        FIGURES.add(world.suite, "claimants that met a deletion", done.met_deletion)
        failures += [
            f"{names[role_name]} on {role_name} (sweep: {done.sweep_kept}): {problem}"
            for problem in done.problems
        ]
    assert not failures, "\n".join(failures)
