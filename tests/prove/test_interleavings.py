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
from dms_prereq.catalogue import VPC_ROLE
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
from tests.prove.world import FIGURES, PARTITION, SETTLE_SECONDS, World, claim_of, new_client

pytestmark = pytest.mark.slow

#: Δ for this suite: every read of a role written within Δ sees it as Δ ago. The
#: claimant counts a claim whose read and tag lie more than a quarter of the settle time
#: apart as having met a deletion (dms_prereq.roles); a claim that neither saw the mark
#: nor was that slow is seen by the first re-read only when 2Δ + S/4 <= S, so Δ must
#: stay at or below 3/8 of the settle time S (see the report on dms_prereq.sweep).
LAG = 0.3
SETTLE = float(SETTLE_SECONDS)
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
        self._on_point = on_point
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
        self._on_point(point)

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


def _hold(client: Any, operation: str, until: Callable[[], None], **match: str) -> None:
    """Hold the client's first ``operation`` (whose parameters include ``match``)."""
    held = threading.Event()

    def before(params: dict[str, Any], **_: Any) -> None:
        if held.is_set() or any(k not in params for k in match):
            return
        if all(v in str(params[k]) for k, v in match.items()):
            held.set()
            until()

    client.meta.events.register(f"before-parameter-build.iam.{operation}", before)


@dataclass
class Play:
    """One schedule played: what the claimant was answered and what was seen meanwhile."""

    schedule: Schedule
    answered_at: float | None = None
    error: BaseException | None = None
    met_deletion: bool = False
    problems: list[str] = field(default_factory=list)
    sweep_kept: str = ""


def _role_as_created_and_unclaimed(world: World) -> None:
    """dms-vpc-role as a sweep found it an hour ago: made by this project, no claim left,
    marked unclaimed. Written to IAM directly: old news to every read."""
    world.iam.create_role(
        RoleName=VPC_ROLE.name,
        AssumeRolePolicyDocument=json.dumps(VPC_ROLE.trust_policy(None)),
        Tags=[
            {"Key": ORIGIN_KEY, "Value": Origin.CREATED.value},
            {"Key": UNCLAIMED_SINCE_KEY, "Value": "2026-01-01T00:00:00Z"},
        ],
    )
    world.iam.attach_role_policy(
        RoleName=VPC_ROLE.name, PolicyArn=VPC_ROLE.managed_policy_arn(PARTITION)
    )


def _promise_kept(world: World, claim: str) -> list[str]:
    """The claimant's role, as IAM really holds it: there, claimed, with its policy."""
    role = view(world.iam, VPC_ROLE.name)
    if role is None:
        return ["the role is gone"]
    problems = []
    if not Ownership.of(role.tags).holds(claim):
        problems.append("the claim is gone")
    if VPC_ROLE.managed_policy_arn(PARTITION) not in role.policy_arns:
        problems.append("the managed policy is detached")
    return problems


def play(world: World, schedule: Schedule) -> Play:
    world = world.fresh()
    _role_as_created_and_unclaimed(world)
    assert world.unkind is not None
    world.unkind.configure(min_lag=LAG, max_lag=LAG, arn_lag=0.0)
    settings = AccountSettings(retention_minutes=0, sweep_settle_seconds=SETTLE_SECONDS)
    stack = world.stack("claimant")
    claim_id = claim_of(stack)
    outcome = Play(schedule)

    def check(point: At) -> None:
        if outcome.answered_at is not None:
            found = _promise_kept(world, claim_id)
            FIGURES.add(world.suite, "invariant checks")
            FIGURES.add(world.suite, "violations", len(found))
            outcome.problems += [f"at {point}, after SUCCESS: {p}" for p in found]

    steps = Lockstep(check)

    # -- the sweep: its own client, its settle sleeps injected ---------------------------
    sweep_client = new_client(world.unkind.url)
    settles = iter((SETTLE_1, SETTLE_2))

    def settle(seconds: float) -> None:
        assert seconds == SETTLE, f"the sweep settles {seconds} s, not {SETTLE}"
        phase = next(settles)
        start = time.monotonic()
        for offset in [*schedule.offsets(phase), SETTLE]:
            time.sleep(max(0.0, start + offset - time.monotonic()))
            steps.reach(At(phase, offset))

    _hold(sweep_client, "TagRole", lambda: steps.reach(At(READ)), Tags=DELETING_SINCE_KEY)
    _hold(sweep_client, "DetachRolePolicy", lambda: steps.reach(At(DETACH)))
    _hold(sweep_client, "DeleteRole", lambda: steps.reach(At(DELETE)))
    sweep_client.meta.events.register(
        "after-call.iam.DeleteRole", lambda **_: steps.reach(At(DELETED))
    )
    sweeper = Sweeper(
        sweep_client,
        StackLookup(load_app().CLIENTS.cloudformation, ACCOUNT),
        DmsSurvey(load_app().CLIENTS.dms, [], None),  # no region: DMS uses nothing
        settings,
        PARTITION,
        sleep=settle,
    )

    # -- the claimant: another stack's Create, its calls held by the schedule ------------
    claimant_client = new_client(world.unkind.url)
    _hold(claimant_client, "CreateRole", lambda: steps.hold_until(schedule.read))
    _hold(claimant_client, "TagRole", lambda: steps.hold_until(schedule.tag))
    _hold(claimant_client, "AttachRolePolicy", lambda: steps.hold_until(schedule.attach))
    event = stack.request(
        "Create", {"CreateCloudWatchLogsRole": "false", "PropagationDelaySeconds": "0"}
    )
    request = Request.parse(event)

    def claimant_sleep(seconds: float) -> None:
        outcome.met_deletion = True
        steps.free()
        time.sleep(seconds)

    def claim() -> None:
        try:
            provision(
                claimant_client,
                request,
                settings,
                remaining_seconds=lambda: 300.0,
                sleep=claimant_sleep,
            )
        except BaseException as error:
            outcome.error = error
        else:
            outcome.answered_at = time.monotonic()
            world.granted[VPC_ROLE.name].add(claim_id)
            check(steps.reached)
        finally:
            steps.free()

    claimant = threading.Thread(target=claim, name="claimant")
    claimant.start()
    report = sweeper.run()
    steps.reach(At(FINISHED))  # a sweep that stopped early lets every held call go
    claimant.join(PATIENCE)
    world.step()

    kept = next(r for r in report.roles if r.role == VPC_ROLE.name)
    outcome.sweep_kept = f"{kept.kept.value if kept.kept else 'deleted'}: {kept.why}"
    outcome.problems += steps.timeouts
    if outcome.error is not None:
        outcome.problems.append(f"the claimant was not answered SUCCESS: {outcome.error!r}")
    if claimant.is_alive():
        outcome.problems.append("the claimant never finished")
    outcome.problems += [f"at the end: {p}" for p in _promise_kept(world, claim_id)]
    left = view(world.iam, VPC_ROLE.name)
    marks = [k for k in (left.tags if left else {}) if k in (DELETING_SINCE_KEY,)]
    if marks:
        outcome.problems.append(f"at the end the role still carries {marks}")
    outcome.problems += world.check(f"{schedule} played")
    return outcome


def _early(offset: float) -> At:
    return At(SETTLE_1, offset)


#: Where the claimant's read, claim and attach land, by what the schedule shows.
SCHEDULES: dict[str, Schedule] = {
    # Between the sweep's read (no claim) and its mark: the first re-read sees the claim.
    "claim-between-the-sweeps-read-and-its-mark": Schedule(At(READ), At(READ), At(READ)),
    # The claimant's read misses the fresh mark (it lags Δ), and its claim follows within
    # a quarter of the settle time: the first re-read (Δ old) still sees it.
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


@pytest.mark.parametrize("schedule", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_a_claimant_answered_success_keeps_its_role_and_policy_whatever_the_sweeps_phase(
    world: World, schedule: Schedule
) -> None:
    done = play(world, schedule)

    FIGURES.add(world.suite, "schedules played")
    FIGURES.add(world.suite, "claimants that met a deletion", done.met_deletion)
    assert not done.problems, (
        f"{schedule.read} / {schedule.tag} / {schedule.attach} (sweep: {done.sweep_kept}):\n"
        + "\n".join(done.problems)
    )
