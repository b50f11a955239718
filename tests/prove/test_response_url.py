"""CloudFormation's side misbehaving: the pre-signed ResponseURL fails, stalls or never answers.

The function must still deliver exactly one answer when the endpoint recovers
(HTTP 500 then 200), give up at once on an answer retrying cannot fix (403,
an expired URL), and never outlive the Lambda deadline when nothing answers.
IAM is the unkind stand-in; CloudFormation shows each request's operation in
progress, as it does while it waits for the answer.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from dms_prereq.catalogue import VPC_ROLE
from dms_prereq.ownership import Ownership

from testkit.views import view
from tests.prove.world import FIGURES, SignedStandIn, World, claim_of

#: crhelper answers "timed out" 0.5 s before the deadline; the sender keeps 0.3 s back.
DEADLINE_SLACK_SECONDS = 1.0


@pytest.fixture
def stand_in(world: World) -> Iterator[SignedStandIn]:
    cfn = world.harness.cfn
    assert isinstance(cfn, SignedStandIn)
    yield cfn
    cfn.answer_with()
    cfn.delay_answers(0)


class BlackHole:
    """Accepts TCP connections on loopback and never says a word (no TLS handshake)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._socket.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)

    def close(self) -> None:
        self._stop.set()
        for connection in self._held:
            connection.close()
        self._socket.close()


@pytest.mark.parametrize("statuses", [(500,), (500, 503, 429)], ids=["500", "500-503-429"])
@pytest.mark.parametrize("request_type", ["Create", "Delete"])
def test_answer_is_retried_until_cloudformation_takes_it_once(
    world: World, stand_in: SignedStandIn, statuses: tuple[int, ...], request_type: str
) -> None:
    stack = world.stack("flaky")
    if request_type == "Delete":
        stack.create(PropagationDelaySeconds="0")
    event = stack.request(request_type, {"PropagationDelaySeconds": "0"})
    stand_in.answer_with(*statuses)

    stack.send(event)  # CloudFormation shows the operation meanwhile, as it does
    done = world.harness.last
    assert done is not None
    world.step()

    FIGURES.add(world.suite, "ResponseURL misbehaviours survived")
    assert done.error is None
    assert [a["Status"] for a in done.answers] == ["SUCCESS"]
    # Requests never delete a role (the sweep does): a Delete only takes its claim back.
    role = view(world.iam, VPC_ROLE.name)
    assert role is not None
    assert Ownership.of(role.tags).holds(claim_of(stack)) == (request_type == "Create")
    assert not (problems := world.check(f"{request_type} answered after {statuses}")), problems


def test_slow_endpoint_within_the_deadline_gets_its_answer(
    world: World, stand_in: SignedStandIn
) -> None:
    stand_in.delay_answers(1.5)
    slow = world.stack("slow")
    world.show_in_progress(slow, "Create")
    event = slow.request("Create", {"PropagationDelaySeconds": "0"})

    done = world.harness.deliver(event, timeout_seconds=20.0)
    world.step()

    FIGURES.add(world.suite, "ResponseURL misbehaviours survived")
    assert not (problems := world.check("a slow answer")), problems
    assert done.error is None
    assert [a["Status"] for a in done.answers] == ["SUCCESS"]


def test_expired_url_is_not_retried(world: World, stand_in: SignedStandIn) -> None:
    stand_in.answer_with(403, 403, 403, 403)
    expired = world.stack("expired")
    world.show_in_progress(expired, "Create")
    event = expired.request("Create", {"PropagationDelaySeconds": "0"})

    done = world.harness.deliver(event, timeout_seconds=60.0)
    world.step()

    FIGURES.add(world.suite, "ResponseURL misbehaviours survived")
    assert done.error is None
    assert done.seconds < 5, "retried an answer that can never be accepted"
    assert any("not delivered" in line for line in done.lines)


@pytest.mark.parametrize("deadline", [3.0, 6.0])
def test_endpoint_that_never_answers_is_given_up_on_by_the_deadline(
    world: World, deadline: float
) -> None:
    hole = BlackHole()
    try:
        silent = world.stack("silent")
        world.show_in_progress(silent, "Create")
        event = silent.request("Create", {"PropagationDelaySeconds": "0"})
        event["ResponseURL"] = event["ResponseURL"].replace(
            f"127.0.0.1:{world.harness.cfn.port}", f"127.0.0.1:{hole.port}"
        )

        done = world.harness.deliver(event, timeout_seconds=deadline)
    finally:
        hole.close()
    world.step()

    FIGURES.add(world.suite, "ResponseURL misbehaviours survived")
    assert done.error is None
    assert done.seconds <= deadline, f"ran {done.seconds:.1f} s past a {deadline} s deadline"
    assert done.seconds >= deadline - DEADLINE_SLACK_SECONDS - 0.5, "gave up long before it had to"
    assert not done.leaked
