"""The races of the ownership protocol, each forced deterministically.

IAM has no conditional writes, so two requests can read a role and act on what
they read while the other changes it. The random races (test_races.py) hit
such windows by chance; here each dangerous interleaving is forced: two
threads run the public claim/release functions with clients of their own, and
botocore hooks hold one thread's call until the other's has completed. The
roles are then checked as IAM reports them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from dms_prereq.catalogue import REDSHIFT_ROLE, VPC_ROLE, RoleSpec
from dms_prereq.properties import Properties
from dms_prereq.request import ResourceRef
from dms_prereq.roles import Claimant, claim_role, release_role

from testkit.console import make_console_role
from testkit.evidence import EVIDENCE
from testkit.views import view
from tests.prove.world import PARTITION, World, new_client

WAIT_SECONDS = 10.0
#: One thread's work: a public function of dms_prereq.roles, given its client and the role.
Work = Callable[[Any, RoleSpec], Any]


class Schedule:
    """Holds a client's n-th call of an operation until a named step has happened."""

    def __init__(self) -> None:
        self._done: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()
        self.timeouts: list[str] = []

    def _is_nth(self, occurrence: int) -> Callable[[], bool]:
        """Counts the calls it is asked about (from any thread); True for the n-th."""
        seen = 0

        def counted() -> bool:
            nonlocal seen
            with self._lock:
                seen += 1
                return seen == occurrence

        return counted

    def mark(self, client: Any, operation: str, step: str, occurrence: int = 1) -> None:
        """``step`` has happened once the client's n-th ``operation`` completed."""
        is_nth = self._is_nth(occurrence)

        def after(**_: Any) -> None:
            if is_nth():
                self._done[step].set()

        client.meta.events.register(f"after-call.iam.{operation}", after)

    def hold(self, client: Any, operation: str, until: str, occurrence: int = 1) -> None:
        """The client's n-th ``operation`` waits until ``until`` has happened."""
        is_nth = self._is_nth(occurrence)

        def before(**_: Any) -> None:
            if is_nth() and not self._done[until].wait(WAIT_SECONDS):
                self.timeouts.append(f"{operation} waited in vain for {until}")

        client.meta.events.register(f"before-call.iam.{operation}", before)


def run_together(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable on its own thread; return results (or exceptions) in order."""
    results: list[Any] = [None] * len(work)

    def runner(index: int, job: Callable[[], Any]) -> None:
        try:
            results[index] = job()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=runner, args=(i, w)) for i, w in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 3)
    EVIDENCE.count("forced interleavings")
    return results


def ref(world: World, stack: str) -> ResourceRef:
    made = world.stack(stack)
    return ResourceRef.parse(made.stack_id, made.logical_id)


def leave(world: World, stack: str) -> Work:
    """The stack's resource releases the role (as its Delete does)."""
    return lambda client, role: release_role(client, role, ref(world, stack))


def join(world: World, stack: str) -> Work:
    """The stack's resource claims the role, default properties (as its Create does)."""

    def claim(client: Any, role: RoleSpec) -> Any:
        claimant = Claimant(client, ref(world, stack), Properties())
        return claim_role(claimant, role, expect_existing=False)

    return claim


@dataclass(frozen=True)
class Step:
    """One ordering constraint: ``who``'s n-th ``operation`` is a named step (``mark``) or
    waits until one has happened (``hold``)."""

    who: str
    kind: str
    operation: str
    step: str
    occurrence: int = 1

    def apply(self, schedule: Schedule, clients: dict[str, Any]) -> None:
        client = clients[self.who]
        if self.kind == "mark":
            schedule.mark(client, self.operation, self.step, self.occurrence)
        else:
            schedule.hold(client, self.operation, until=self.step, occurrence=self.occurrence)


def play(world: World, role: RoleSpec, steps: tuple[Step, ...], **work: Work) -> None:
    """Run ``work`` (by client name) on threads with clients of their own, ordered by
    ``steps``; every job must finish without an error or a step waited for in vain."""
    clients = {name: new_client() for name in work}
    schedule = Schedule()
    for step in steps:
        step.apply(schedule, clients)

    outcome = run_together(*(partial(job, clients[name], role) for name, job in work.items()))

    assert not [r for r in outcome if isinstance(r, Exception)], outcome
    assert not schedule.timeouts


#: Both last claimants read the role (and so each other's claim) before either removes its own.
BOTH_READ_FIRST = (
    Step("first", "mark", "GetRole", "first read"),
    Step("second", "mark", "GetRole", "second read"),
    Step("first", "hold", "UntagRole", "second read"),
    Step("second", "hold", "UntagRole", "first read"),
)


@pytest.mark.parametrize(
    ("role", "made_by_hand", "properties"),
    [
        (VPC_ROLE, False, {"CreateCloudWatchLogsRole": "false"}),
        (REDSHIFT_ROLE, True, {"CreateRedshiftRole": "true"}),
    ],
    ids=["made-by-this-project-is-deleted", "made-by-hand-is-left-as-found"],
)
def test_two_last_claimants_leaving_at_once(
    world: World, role: RoleSpec, made_by_hand: bool, properties: dict[str, str]
) -> None:
    found = None
    if made_by_hand:
        found = make_console_role(world.iam, role, owners_policies=True, tag_count=1)
    for name in ("a", "b"):
        world.stack(name).create(**properties, PropagationDelaySeconds="0")

    play(world, role, BOTH_READ_FIRST, first=leave(world, "a"), second=leave(world, "b"))

    left = view(world.iam, role.name)
    if found is None:
        assert left is None, "the role outlived its last claim"
    else:
        assert left is not None, "a hand-made role was deleted"
        assert (left.tags, left.trust) == (found.tags, found.trust), "not left as it was found"


#: A claimant leaving (stack a, the role's only claim) while another joins (stack b).
LEAVER_AND_JOINER = {
    "claim-between-the-leavers-last-read-and-its-delete-keeps-the-role": (
        Step("leaver", "mark", "GetRole", "leaver re-read", occurrence=2),
        Step("joiner", "hold", "CreateRole", "leaver re-read"),
        Step("joiner", "mark", "AttachRolePolicy", "joiner attached"),
        Step("leaver", "hold", "DeleteRole", "joiner attached"),
    ),
    "delete-between-the-joiners-tag-and-attach-makes-the-joiner-create-it-again": (
        Step("leaver", "mark", "GetRole", "leaver re-read", occurrence=2),
        Step("joiner", "hold", "TagRole", "leaver re-read"),
        Step("joiner", "mark", "TagRole", "joiner tagged"),
        Step("leaver", "hold", "DeleteRole", "joiner tagged"),
        Step("leaver", "mark", "DeleteRole", "leaver deleted"),
        Step("joiner", "hold", "AttachRolePolicy", "leaver deleted"),
    ),
    "joiner-done-before-the-leaver-detaches-keeps-its-policy": (
        Step("leaver", "mark", "GetRole", "leaver read"),
        Step("joiner", "hold", "CreateRole", "leaver read"),
        Step("joiner", "mark", "AttachRolePolicy", "joiner attached"),
        Step("leaver", "hold", "DetachRolePolicy", "joiner attached"),
    ),
}


@pytest.mark.parametrize("steps", LEAVER_AND_JOINER.values(), ids=LEAVER_AND_JOINER.keys())
def test_a_claimant_joining_as_the_last_one_leaves_holds_the_role_alone(
    world: World, steps: tuple[Step, ...]
) -> None:
    world.stack("a").create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")

    play(world, VPC_ROLE, steps, leaver=leave(world, "a"), joiner=join(world, "b"))

    role = view(world.iam, VPC_ROLE.name)
    assert role is not None, "a live claim's role was deleted"
    assert role.claimants == {"b"}
    assert VPC_ROLE.managed_policy_arn(PARTITION) in role.policy_arns
    assert role.origin == "created"


pytestmark = pytest.mark.usefixtures("backoff")
