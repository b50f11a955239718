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
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from dms_prereq.catalogue import REDSHIFT_ROLE, VPC_ROLE, RoleSpec
from dms_prereq.properties import Properties
from dms_prereq.request import ResourceRef
from dms_prereq.roles import claim_role, release_role

from tests.prove.evidence import EVIDENCE
from tests.prove.world import PARTITION, World, make_console_role, new_client, role_snapshot
from tests.roles_view import claimants

WAIT_SECONDS = 10.0


class Schedule:
    """Holds a client's n-th call of an operation until a named step has happened."""

    def __init__(self) -> None:
        self._done: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()
        self.timeouts: list[str] = []

    def mark(self, client: Any, operation: str, step: str, occurrence: int = 1) -> None:
        """``step`` has happened once the client's n-th ``operation`` completed."""
        seen: Counter[str] = Counter()

        def after(**_: Any) -> None:
            with self._lock:
                seen[operation] += 1
                reached = seen[operation] == occurrence
            if reached:
                self._done[step].set()

        client.meta.events.register(f"after-call.iam.{operation}", after)

    def hold(self, client: Any, operation: str, until: str, occurrence: int = 1) -> None:
        """The client's n-th ``operation`` waits until ``until`` has happened."""
        seen: Counter[str] = Counter()

        def before(**_: Any) -> None:
            with self._lock:
                seen[operation] += 1
                mine = seen[operation] == occurrence
            if mine and not self._done[until].wait(WAIT_SECONDS):
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


def claim(client: Any, role: RoleSpec, resource: ResourceRef) -> Any:
    return claim_role(client, role, resource, Properties(), None, expect_existing=False)


def test_two_last_claimants_leaving_at_once_delete_the_role(world: World) -> None:
    world.stack("a").create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    world.stack("b").create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    first, second, schedule = new_client(), new_client(), Schedule()
    # Both read the role (and so each other's claim) before either removes its own.
    schedule.mark(first, "GetRole", "first read")
    schedule.mark(second, "GetRole", "second read")
    schedule.hold(first, "UntagRole", until="second read")
    schedule.hold(second, "UntagRole", until="first read")

    outcome = run_together(
        lambda: release_role(first, VPC_ROLE, ref(world, "a")),
        lambda: release_role(second, VPC_ROLE, ref(world, "b")),
    )

    assert not [r for r in outcome if isinstance(r, Exception)], outcome
    assert not schedule.timeouts
    assert role_snapshot(world.iam, VPC_ROLE.name) is None, "the role outlived its last claim"


def test_two_last_claimants_leaving_a_hand_made_role_at_once_leave_it_as_found(
    world: World,
) -> None:
    found = make_console_role(world.iam, REDSHIFT_ROLE, extras=True)
    for name in ("a", "b"):
        world.stack(name).create(CreateRedshiftRole="true", PropagationDelaySeconds="0")
    first, second, schedule = new_client(), new_client(), Schedule()
    schedule.mark(first, "GetRole", "first read")
    schedule.mark(second, "GetRole", "second read")
    schedule.hold(first, "UntagRole", until="second read")
    schedule.hold(second, "UntagRole", until="first read")

    outcome = run_together(
        lambda: release_role(first, REDSHIFT_ROLE, ref(world, "a")),
        lambda: release_role(second, REDSHIFT_ROLE, ref(world, "b")),
    )

    assert not [r for r in outcome if isinstance(r, Exception)], outcome
    assert not schedule.timeouts
    left = role_snapshot(world.iam, REDSHIFT_ROLE.name)
    assert left is not None, "a hand-made role was deleted"
    assert (left.tags, left.trust) == (found.tags, found.trust), "not left as it was found"


def test_claim_between_the_leavers_last_read_and_its_delete_keeps_the_role(world: World) -> None:
    world.stack("a").create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    leaver, joiner, schedule = new_client(), new_client(), Schedule()
    schedule.mark(leaver, "GetRole", "leaver re-read", occurrence=2)
    schedule.hold(joiner, "CreateRole", until="leaver re-read")
    schedule.mark(joiner, "AttachRolePolicy", "joiner attached")
    schedule.hold(leaver, "DeleteRole", until="joiner attached")

    outcome = run_together(
        lambda: release_role(leaver, VPC_ROLE, ref(world, "a")),
        lambda: claim(joiner, VPC_ROLE, ref(world, "b")),
    )

    assert not [r for r in outcome if isinstance(r, Exception)], outcome
    assert not schedule.timeouts
    _assert_held_by_b_alone(world)


def test_delete_between_the_joiners_tag_and_attach_makes_the_joiner_create_it_again(
    world: World,
) -> None:
    world.stack("a").create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    leaver, joiner, schedule = new_client(), new_client(), Schedule()
    schedule.mark(leaver, "GetRole", "leaver re-read", occurrence=2)
    schedule.hold(joiner, "TagRole", until="leaver re-read")
    schedule.mark(joiner, "TagRole", "joiner tagged")
    schedule.hold(leaver, "DeleteRole", until="joiner tagged")
    schedule.mark(leaver, "DeleteRole", "leaver deleted")
    schedule.hold(joiner, "AttachRolePolicy", until="leaver deleted")

    outcome = run_together(
        lambda: release_role(leaver, VPC_ROLE, ref(world, "a")),
        lambda: claim(joiner, VPC_ROLE, ref(world, "b")),
    )

    assert not [r for r in outcome if isinstance(r, Exception)], outcome
    assert not schedule.timeouts
    _assert_held_by_b_alone(world)


def test_joiner_done_before_the_leaver_detaches_keeps_its_policy(world: World) -> None:
    world.stack("a").create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    leaver, joiner, schedule = new_client(), new_client(), Schedule()
    schedule.mark(leaver, "GetRole", "leaver read")
    schedule.hold(joiner, "CreateRole", until="leaver read")
    schedule.mark(joiner, "AttachRolePolicy", "joiner attached")
    schedule.hold(leaver, "DetachRolePolicy", until="joiner attached")

    outcome = run_together(
        lambda: release_role(leaver, VPC_ROLE, ref(world, "a")),
        lambda: claim(joiner, VPC_ROLE, ref(world, "b")),
    )

    assert not [r for r in outcome if isinstance(r, Exception)], outcome
    assert not schedule.timeouts
    _assert_held_by_b_alone(world)


def _assert_held_by_b_alone(world: World) -> None:
    role = role_snapshot(world.iam, VPC_ROLE.name)
    assert role is not None, "a live claim's role was deleted"
    assert claimants(world.iam, VPC_ROLE.name) == {"b"}
    assert VPC_ROLE.managed_policy_arn(PARTITION) in role.attached
    assert role.tag_dict.get("dms-prerequisite-roles:origin") == "created"


pytestmark = pytest.mark.usefixtures("backoff")
