"""Races: eight stacks and a sweep work on the same roles at the same moment, against IAM
as it behaves.

Ten execution environments (processes, each a cold start of the function) serve eight
stacks in three regions and two overlapping runs of the scheduled sweep (retention 0,
settle time above Δ), all through the unkind IAM (reads up to Δ old, 409s on overlapping
writes and on a share of the rest). Round after round the stacks act at once,
CloudFormation-style: a Create when a stack has no resource (a new stack, with a new
StackId), else an Update, a Delete, or a deletion whose Delete never reaches the function
(lost by Lambda). The second sweep starts a settle time after the first (it sees the
first one's mark and deletes), and the requests start at a random moment of either
sweep's phases. Rounds cycle: stacks come, churn, all leave, and new ones come while the
sweeps delete the roles nobody claims any more.
CloudFormation's side is the ``cfn_api`` stand-in, which the request check and the sweep
ask.

After each round, as moto holds IAM (not through the lagging proxy):

* every stack that got SUCCESS and still exists has each role a SUCCESS gave it, at
  path /, with its claim and its managed policy (also read the moment each SUCCESS
  arrives, while the round's other requests and sweeps still run); every role with a
  claim has its policy; every claim belongs to a real resource; a Delete that was
  answered left no claim;
* the console-made role and an unrelated role are never deleted or changed (DMS's
  policy may be added to the console one); roles this project created carry its marks
  and the account settings;
* every request and every sweep got exactly one answer, SUCCESS.

After the last round every stack is deleted and two sweeps run, Δ apart: then nothing of
this project remains, no role it created and no tag of its on any role.

The sequence is random but seeded (``PROVE_SEED``); ``PROVE_ROUNDS`` rounds (default 12,
about a minute here). Timing between processes still varies from run to run.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from dms_prereq.catalogue import REDSHIFT_ROLE, ROLES
from dms_prereq.request import claim_id_for

from testkit import REGION
from testkit.cfn_api import CloudFormationApi
from testkit.console import OWNERS_MANAGED_POLICY, add_owners_policy, make_console_role
from testkit.dms_api import DmsApi
from testkit.evidence import EVIDENCE, leaks
from testkit.local_aws import MotoServer
from testkit.unkind_iam import UnkindIam
from testkit.views import RoleView
from tests.prove.conftest import worker_environment
from tests.prove.sweeping import (
    ROLE_TAG,
    RegionalStack,
    RoleTruth,
    SuiteFigures,
    Truth,
    function_environment,
    iam_as_it_behaves,
)
from tests.prove.workers import Environments, Result
from tests.prove.world import (
    BOUNDARY_A,
    DELTA,
    SCHEDULED_EVENT,
    SignedStandIn,
    enabled_roles,
    foreign_changes,
    make_boundaries,
    sweep_summary,
)

pytestmark = pytest.mark.slow

#: Where the eight stacks live: the sweep asks each claim's stack in its own region.
STACK_REGIONS = (REGION,) * 4 + ("eu-west-1",) * 2 + ("ap-southeast-2",) * 2
ROUNDS = int(os.environ.get("PROVE_ROUNDS", "12"))
SEED = int(os.environ.get("PROVE_SEED", "20260101"))
#: When, after a round's first sweep, its second sweep starts (a settle time and a bit:
#: the first sweep's mark is visible by then) and its requests (any phase of either).
SECOND_SWEEP_AFTER = 1.2
REQUESTS_AFTER = (0.0, 3.4)
#: In a contest round the requests come while the second sweep deletes (it starts at
#: 1.2 s; each phase is a settle time): before its read, in either phase, or after.
CONTESTED_REQUESTS_AFTER = (1.0, 4.0)
#: The rounds, over and over: stacks come (flow), come, go and change (churn), every
#: stack leaves (ebb), and new stacks come while the sweeps delete the roles nobody
#: claims any more (contest).
CYCLE = ("flow", "churn", "ebb", "contest")
UNRELATED_ROLE = "billing-reports"


def random_properties(rng: random.Random) -> dict[str, Any]:
    """Each role enabled by about a third of the stacks, so that now and then nobody
    claims one and the sweep goes to delete it while other stacks come to claim it."""
    return {role.enable_property: "true" if rng.random() < 0.3 else "false" for role in ROLES} | {
        "PropagationDelaySeconds": "0"
    }


@dataclass
class Racer:
    """One of the eight stack slots, and the resource of its current stack."""

    index: int
    generation: int = 0
    stack: RegionalStack | None = None
    #: CloudFormation has the resource (the stack exists, the resource was not deleted).
    live: bool = False
    #: Roles a SUCCESS answer gave the resource: their claims stay until it is deleted.
    claimed: set[str] = field(default_factory=set)

    @property
    def claim_id(self) -> str:
        assert self.stack is not None
        return claim_id_for(self.stack.stack_id, self.stack.logical_id)


@dataclass
class Outcome:
    """What one request of a round came to."""

    racer: Racer
    request_type: str
    properties: dict[str, Any] | None
    result: Result | None = None
    answer: dict[str, Any] | None = None
    error: BaseException | None = None
    #: The roles the answer gave, read the moment it arrived (the other requests and the
    #: sweeps of the round still running).
    at_answer: dict[str, RoleTruth | None] = field(default_factory=dict)


class Race:
    """The eight racers, the sweeps and the checks: ``set_up``, ``play_round`` each round,
    ``finish``."""

    def __init__(
        self,
        workers: Environments,
        answers: SignedStandIn,
        api: CloudFormationApi,
        truth: Truth,
        figures: SuiteFigures,
        source: str,
    ) -> None:
        self.workers = workers
        self.answers = answers
        self.api = api
        self.truth = truth
        self.figures = figures
        self.source = source
        self.rng = random.Random(SEED)
        self.racers = [Racer(i) for i in range(len(STACK_REGIONS))]
        self.legit: dict[str, str] = {}
        self.console: dict[str, RoleView] = {}
        self.unrelated: RoleView | None = None
        self.round = "set-up"

    # -- the world -----------------------------------------------------------------------

    def set_up(self) -> None:
        iam = self.truth.iam
        make_console_role(iam, REDSHIFT_ROLE, owners_policies=True, tag_count=1)
        iam.create_role(
            RoleName=UNRELATED_ROLE,
            AssumeRolePolicyDocument=(
                '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                '"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
            ),
            Tags=[{"Key": "owner", "Value": "finance"}],
        )
        iam.attach_role_policy(RoleName=UNRELATED_ROLE, PolicyArn=OWNERS_MANAGED_POLICY)
        add_owners_policy(iam, UNRELATED_ROLE)
        console, unrelated = self.truth.role(REDSHIFT_ROLE.name), self.truth.role(UNRELATED_ROLE)
        assert console is not None and unrelated is not None
        self.console[REDSHIFT_ROLE.name] = console.view
        self.unrelated = unrelated.view

    def _invoke(self, event: dict[str, Any], outcome: Outcome) -> None:
        """A stack's invoke: the request goes to a free execution environment."""
        outcome.result = self.workers.run([event], source=self.source)[0]

    def _new_stack(self, racer: Racer, outcome: Outcome) -> RegionalStack:
        racer.generation += 1
        stack = RegionalStack(
            name=f"racer-{racer.index}-{racer.generation}",
            invoke=lambda event: self._invoke(event, outcome),
            cfn=self.answers,
            api=self.api,
            region=STACK_REGIONS[racer.index],
        )
        racer.stack, racer.live, racer.claimed = stack, False, set()
        self.legit[racer.claim_id] = stack.stack_id
        return stack

    # -- one round -----------------------------------------------------------------------

    def _act(self, outcome: Outcome) -> None:
        """One stack's operation, on its own thread (CloudFormation's statuses included)."""
        racer = outcome.racer
        try:
            if outcome.request_type == "Create":
                stack = self._new_stack(racer, outcome)
                outcome.answer = stack.create(**(outcome.properties or {}))
            else:
                stack = racer.stack
                assert stack is not None
                stack.invoke = lambda event: self._invoke(event, outcome)
                if outcome.request_type == "Update":
                    outcome.answer = stack.update(**(outcome.properties or {}))
                else:
                    outcome.answer = stack.delete()
            if outcome.answer.get("Status") == "SUCCESS" and outcome.request_type != "Delete":
                given = enabled_roles(outcome.properties)
                outcome.at_answer = {name: self.truth.role(name) for name in sorted(given)}
        except BaseException as error:  # reported by the round, on the test's thread
            outcome.error = error

    def _plan(self, kind: str) -> list[Outcome]:
        """One round's requests; see :data:`CYCLE`."""
        plans = []
        for racer in self.racers:
            draw = self.rng.random()
            if kind == "ebb":
                if racer.live:
                    plans.append(Outcome(racer, "Delete" if draw < 0.8 else "lost Delete", None))
            elif not racer.live:
                if kind in ("flow", "contest") or draw < 0.5:
                    plans.append(Outcome(racer, "Create", random_properties(self.rng)))
            elif kind == "flow" or draw > 0.45:
                plans.append(Outcome(racer, "Update", random_properties(self.rng)))
            elif draw < 0.3:
                plans.append(Outcome(racer, "Delete", None))
            else:
                plans.append(Outcome(racer, "lost Delete", None))
        return plans

    def play_round(self, number: int) -> None:
        kind = CYCLE[number % len(CYCLE)]
        self.round = f"round {number} ({kind})"
        self.figures.step()
        plans = self._plan(kind)
        # Two sweeps, the second one settle time after the first: it sees the first one's
        # unclaimed-since mark, so a role nobody claims goes within the round, while the
        # stacks' requests come at any moment of either sweep's phases.
        sweeps = [self.workers.start([SCHEDULED_EVENT], source=self.source)]
        start = time.monotonic()
        after = CONTESTED_REQUESTS_AFTER if kind == "contest" else REQUESTS_AFTER
        offsets = sorted([SECOND_SWEEP_AFTER, self.rng.uniform(*after)])
        for offset in offsets:
            time.sleep(max(0.0, start + offset - time.monotonic()))
            if offset == SECOND_SWEEP_AFTER:
                sweeps.append(self.workers.start([SCHEDULED_EVENT], source=self.source))
            else:
                threads = self._send(plans)
        for thread in threads:
            thread.join(timeout=300)
        for sweep in sweeps:
            self._sweep_answered(sweep.wait()[0])
        for outcome in plans:
            if outcome.request_type != "lost Delete":
                self._answered(outcome)
        self.check()

    def _send(self, plans: list[Outcome]) -> list[threading.Thread]:
        threads = []
        for outcome in plans:
            if outcome.request_type == "lost Delete":
                # CloudFormation deleted the stack; the Delete never reached the function.
                assert outcome.racer.stack is not None
                self.api.delete_stack(outcome.racer.stack.stack_id)
                outcome.racer.live = False
                self.figures.count("stacks deleted without a Delete reaching the function")
                continue
            thread = threading.Thread(target=self._act, args=(outcome,))
            thread.start()
            threads.append(thread)
        return threads

    def _answered(self, outcome: Outcome) -> None:
        racer, check = outcome.racer, self.figures.check
        where = f"{self.round} {racer.stack.name if racer.stack else racer.index}"
        self.figures.count("requests")
        if not check(outcome.error is None, f"{where}: {outcome.error!r}"):
            return
        assert outcome.answer is not None and outcome.result is not None and racer.stack
        key = self.answers.key_of(racer.stack.history[-1]["request"]["ResponseURL"])
        answers = self.answers.bodies(key)
        check(outcome.result.error is None, f"{where}: the function raised {outcome.result.error}")
        check(len(answers) == 1, f"{where}: {len(answers)} answers to one request")
        ok = check(
            outcome.answer["Status"] == "SUCCESS",
            f"{where} {outcome.request_type}: FAILED {outcome.answer.get('Reason')}",
        )
        if outcome.request_type == "Delete":
            racer.live = False
            self._released(racer, where)
        elif ok:
            racer.live = True
            racer.claimed |= enabled_roles(outcome.properties)
            for name, found in outcome.at_answer.items():
                # The promise holds from the answer on, not only once the round is over.
                check(
                    found is not None and racer.claim_id in found.claims and found.has_policy(name),
                    f"{where}: when SUCCESS arrived, {name} was "
                    + ("gone" if found is None else "without its claim or its policy"),
                )
        elif outcome.request_type == "Create":
            # CloudFormation rolls a failed Create back; keep the story going.
            racer.stack.delete()

    def _released(self, racer: Racer, where: str) -> None:
        for name, found in self.truth.roles().items():
            self.figures.check(
                found is None or racer.claim_id not in found.claims,
                f"{where}: {name} keeps the claim of a resource whose Delete was answered",
            )

    def _sweep_answered(self, result: Result) -> None:
        check = self.figures.check
        self.figures.count("sweeps")
        check(result.error is None, f"{self.round}: the sweep raised {result.error}")
        summary = sweep_summary(result.invocation.lines)
        check(summary is not None and summary == result.value, f"{self.round}: sweep summary")
        if isinstance(result.value, dict):
            self.figures.count("roles deleted by sweeps", int(result.value["roles_deleted"]))
            self.figures.count("stale claims released", int(result.value["stale_claims_released"]))
            # IAM here only lags and answers 409s, which the sweep must take in its stride
            # (a NoSuchEntity of a read lagging a CreateRole is no failed lookup).
            self.figures.check(
                not result.value["failed_lookups"].get("iam"),
                f"{self.round}: the sweep counted a failed IAM lookup: "
                f"{result.value['roles_kept']}",
            )
            for why in result.value["roles_kept"].values():
                reason = str(why).split(":")[0]
                if reason in ("claimed meanwhile", "DeleteConflict"):
                    self.figures.count("deletions stopped by a claim")

    # -- checks --------------------------------------------------------------------------

    def check(self) -> None:
        """The end state of a round, on IAM as moto holds it."""
        check, where = self.figures.check, self.round
        truth = self.truth.roles()
        live = [r for r in self.racers if r.live]
        for role in ROLES:
            name, found = role.name, truth[role.name]
            needs = [r for r in live if name in r.claimed]
            if name in self.console:
                problems = foreign_changes(self.console[name], found.view if found else None)
                check(not problems, f"{where}: {'; '.join(problems)}")
            if found is None:
                check(not needs, f"{where}: {name} is gone; {len(needs)} live stacks claim it")
                continue
            self._role_right(where, found, needs)
        unrelated = self.truth.role(UNRELATED_ROLE)
        check(
            unrelated is not None and unrelated.view == self.unrelated,
            f"{where}: {UNRELATED_ROLE}, which is nobody's business here, changed",
        )
        if self.figures.violations:
            raise AssertionError("\n".join(self.figures.violations[:20]))

    def _role_right(self, where: str, found: RoleTruth, needs: list[Racer]) -> None:
        check, name, view = self.figures.check, found.view.name, found.view
        claims = found.claims
        check(view.arn.endswith(f":role/{name}"), f"{where}: {name} is not at path /")
        for racer in needs:
            assert racer.stack is not None
            check(
                claims.get(racer.claim_id) == racer.stack.stack_id,
                f"{where}: {name} lacks the claim of {racer.stack.name}",
            )
        if claims:
            check(found.has_policy(name), f"{where}: {name} is claimed but lacks its policy")
        for cid, value in claims.items():
            check(self.legit.get(cid) == value, f"{where}: {name} has a claim of no real stack")
        if name not in self.console:
            check(found.created, f"{where}: {name} lacks its created-mark")
            check(view.tags.get(ROLE_TAG[0]) == ROLE_TAG[1], f"{where}: {name} lacks RoleTags")
            check(view.boundary == BOUNDARY_A, f"{where}: {name} lacks the boundary")

    def finish(self) -> None:
        """Every stack deleted at once, then two sweeps Δ apart: nothing of ours remains."""
        self.round = "the end"
        plans = [Outcome(r, "Delete", None) for r in self.racers if r.live]
        threads = [threading.Thread(target=self._act, args=(p,)) for p in plans]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        for outcome in plans:
            self._answered(outcome)
        for _ in range(2):
            time.sleep(DELTA)
            self._sweep_answered(self.workers.run([SCHEDULED_EVENT], source=self.source)[0])
        check = self.figures.check
        for name, found in self.truth.roles().items():
            if name in self.console:
                check(
                    found is not None and not found.ours,
                    f"the end: {name}, made by hand, keeps {sorted(found.ours) if found else '-'}",
                )
            else:
                check(found is None, f"the end: {name} outlived every stack and two sweeps")
        self.check()


def test_concurrent_stacks_and_sweeps_keep_every_claimed_role(
    unkind: UnkindIam,
    unkind_moto: MotoServer,
    dms_api: DmsApi,
    cfn_api: CloudFormationApi,
    signed_cfn: SignedStandIn,
    request: pytest.FixtureRequest,
) -> None:
    unkind.configure(iam_as_it_behaves(SEED))
    cfn_api.reset()
    dms_api.reset()
    truth = Truth(unkind_moto.url)
    make_boundaries(truth.iam)
    figures = SuiteFigures("races")
    environment = {**worker_environment(unkind.url), **function_environment(cfn_api, dms_api)}
    with Environments(len(STACK_REGIONS) + 2, environment) as workers:
        race = Race(workers, signed_cfn, cfn_api, truth, figures, request.node.nodeid)
        race.set_up()
        try:
            for number in range(ROUNDS):
                race.play_round(number)
            race.finish()
        finally:
            figures.absorb(unkind)
            figures.finish()
        output = workers.output()
    secrets = tuple(s for inv in EVIDENCE.invocations for s in inv.secrets)
    EVIDENCE.count("race rounds", ROUNDS)
    EVIDENCE.count("concurrent requests in races", int(figures.get("requests")))
    assert not figures.violations, "\n".join(figures.violations[:20])
    # Log lines written during invocations come back with their evidence; what a worker
    # wrote outside them (cold start) is in its output file.
    assert not leaks(output, secrets), "a worker wrote a secret to stdout or stderr"
