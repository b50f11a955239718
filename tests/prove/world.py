"""The world the proving suites play in: IAM as it really behaves, CloudFormation, the function.

* IAM is a moto_server behind :class:`~testkit.unkind_iam.UnkindIam` (reads up to
  :data:`DELTA` seconds old, 409s, IAM's tag rules). The function's client goes
  through the proxy; :attr:`World.iam` talks to moto itself, so what a test sets
  up is old news to every read, and what it checks is what IAM really holds, not
  a view seconds old.
* CloudFormation: every stack is a :class:`~testkit.stack.SimulatedStack` whose
  operations :class:`~testkit.cfn_api.CloudFormationApi` shows while they run, as
  the function's request check (``VerifyRequests``) and the sweep ask it.
* :class:`Harness` invokes the real ``app.lambda_handler`` in-process
  (:class:`~testkit.invoke.InProcessFunction`) under
  :data:`~testkit.evidence.EVIDENCE`, counts the answers CloudFormation received
  for each request, and runs the scheduled sweep.
* :meth:`World.check` is the invariant every suite checks after every step (issue
  10): no role is missing, unclaimed or without its policy while a stack that was
  answered SUCCESS for it still holds it; a role this project did not create is
  neither deleted nor changed; every request was answered exactly once.
* :data:`FIGURES` collects what each suite did, for ``make prove``'s summary.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
import pytest
from dms_prereq.catalogue import ROLES, RoleSpec
from dms_prereq.clients import client_config
from dms_prereq.ownership import ORIGIN_KEY, TAG_PREFIX, Ownership
from dms_prereq.request import ResourceRef

from testkit import ACCOUNT, REGION
from testkit.cfn_api import CloudFormationApi
from testkit.console import DESCRIBE_LOGS_POLICY, make_console_role, wipe_roles
from testkit.evidence import EVIDENCE, leaks
from testkit.invoke import InProcessFunction
from testkit.local_aws import SIGNATURE_MARK, CloudFormationStandIn
from testkit.stack import SimulatedStack, load_event
from testkit.unkind_iam import UnkindIam, UnkindSettings
from testkit.views import RoleView, snapshot, view
from tests.prove.faults import CallTap

PARTITION = "aws"
BOUNDARY_A = f"arn:aws:iam::{ACCOUNT}:policy/dms-boundary-a"
BOUNDARY_B = f"arn:aws:iam::{ACCOUNT}:policy/dms-boundary-b"
#: Δ, the oldest view an IAM read may be answered from in these suites. IAM documents
#: "a few seconds"; a short Δ keeps the suites fast. A sweep's settle time must exceed
#: it, and by more than the plain reading of dms_prereq.sweep suggests: a claimant that
#: read before a fresh mark showed and tagged within a quarter of the settle time S is
#: seen by the first re-read only if 2Δ + S/4 <= S, i.e. Δ <= 3S/8 (test_interleavings).
DELTA = 0.3
#: SWEEP_SETTLE_SECONDS of a deployment whose sweep deletes in these suites (whole
#: seconds, at least 8Δ/3); the suites' own deployment keeps the default, 60 s, which a
#: request only ever "waits" (recorded, not slept) when it meets a deletion.
SETTLE_SECONDS = 1
#: The deployment: the function's environment besides its endpoints. Retention 0 lets a
#: sweep delete at the sweep after its mark; DMS is asked in the stacks' region only
#: (a scenario that needs EC2's region list clears DMS_REGIONS); the settle time is
#: the default, as requests see it (a claim is "slow" after a quarter of it).
DEPLOYMENT = {
    "VERIFY_REQUESTS": "true",
    "UNCLAIMED_ROLE_RETENTION_MINUTES": "0",
    "SWEEP_SETTLE_SECONDS": "60",
    "DMS_REGIONS": REGION,
    "ROLE_PERMISSIONS_BOUNDARY": "",
    "ROLE_TAGS": "",
    "RESTRICT_TO_SOURCE_ACCOUNT": "false",
}
#: What a sweep needs besides: a settle time it can really wait.
SWEEPING = {"SWEEP_SETTLE_SECONDS": str(SETTLE_SECONDS)}
SCHEDULED_EVENT = load_event("scheduled")


def unkind_settings(seed: object = None, **changes: Any) -> UnkindSettings:
    """IAM as the suites play it: reads up to DELTA old, unique ids for DELTA after a create."""
    settings = UnkindSettings(
        max_lag=DELTA, arn_lag=DELTA, seed=None if seed is None else str(seed)
    )
    return UnkindSettings(**{**settings.__dict__, **changes})


# -- figures ----------------------------------------------------------------------------

#: The figures every suite reports (issue 10: "Δ used, 409s injected, steps or rounds,
#: invariant checks, violations"), printed first and in this order.
DELTA_USED = "Δ used (max_lag, s)"
CONFLICTS = "409s injected"
STEPS = "steps or rounds"
CHECKS = "invariant checks"
VIOLATIONS = "violations"
STANDARD = (DELTA_USED, CONFLICTS, STEPS, CHECKS, VIOLATIONS)


class Figures:
    """Per-suite figures for ``make prove``'s summary (tests/prove/conftest.py prints them).

    ``FIGURES.add(suite, name, amount)`` adds to a count; ``FIGURES.set(suite, name,
    value)`` states a value (the largest is kept for Δ and other maxima with
    ``keep_max=True``). Any suite may report through it, from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[str, float | int | str]] = defaultdict(dict)

    def add(self, suite: str, name: str, amount: float = 1) -> None:
        with self._lock:
            current = self._values[suite].get(name, 0)
            base = current if isinstance(current, int | float) else 0
            self._values[suite][name] = base + amount

    def set(self, suite: str, name: str, value: float | str, *, keep_max: bool = False) -> None:
        with self._lock:
            current = self._values[suite].get(name)
            if keep_max and isinstance(current, int | float) and isinstance(value, int | float):
                value = max(current, value)
            self._values[suite][name] = value

    def get(self, suite: str, name: str) -> float | int | str | None:
        with self._lock:
            return self._values.get(suite, {}).get(name)

    def suites(self) -> dict[str, dict[str, float | int | str]]:
        """Each suite's figures, the standard ones first (0 where a suite has none)."""
        ordered: dict[str, dict[str, float | int | str]] = {}
        with self._lock:
            snapshot = {suite: dict(values) for suite, values in self._values.items()}
        for suite in sorted(snapshot):
            values = snapshot[suite]
            first = {name: values.get(name, 0) for name in STANDARD}
            rest = {n: v for n, v in sorted(values.items()) if n not in STANDARD}
            ordered[suite] = {**first, **rest}
        return ordered


FIGURES = Figures()


# -- IAM -------------------------------------------------------------------------------


def new_client(endpoint_url: str | None = None) -> Any:
    """An IAM client configured as the function configures its own (at ``endpoint_url``)."""
    return boto3.client(
        "iam", region_name=REGION, config=client_config(), endpoint_url=endpoint_url
    )


def make_boundaries(iam: Any) -> None:
    """The two customer managed policies the suites use as permissions boundaries."""
    for arn in (BOUNDARY_A, BOUNDARY_B):
        with suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_policy(
                PolicyName=arn.rsplit("/", 1)[1], PolicyDocument=json.dumps(DESCRIBE_LOGS_POLICY)
            )


class SignedStandIn(CloudFormationStandIn):
    """CloudFormation's answer endpoint whose URLs carry a fresh signature and credential,
    as real pre-signed S3 URLs do, so every request has secrets of its own to leak."""

    def response_url(self, key: str | None = None) -> str:
        credential = urllib.parse.quote(
            f"ASIAPROVE{secrets.token_hex(6).upper()}/20260101/{REGION}/s3/aws4_request", safe=""
        )
        return (
            super()
            .response_url(key)
            .replace(SIGNATURE_MARK, f"X-Amz-Signature={secrets.token_hex(32)}")
            + f"&X-Amz-Credential={credential}&X-Amz-Date=20260101T000000Z"
            + f"&X-Amz-Security-Token=FwoProve{secrets.token_urlsafe(24)}"
        )


# -- the function ---------------------------------------------------------------------------


@dataclass
class Delivery:
    """What one invocation did, as CloudFormation and the runtime saw it."""

    answers: list[dict[str, Any]]
    seconds: float
    lines: list[str]
    leaked: list[str]
    error: BaseException | None


@dataclass
class SweepRun:
    """One scheduled sweep, as its log line reports it."""

    summary: dict[str, Any] | None
    seconds: float
    lines: list[str]
    error: BaseException | None


def sweep_summary(lines: list[str]) -> dict[str, Any] | None:
    """The sweep's one summary log line ("sweep finished"), or None if it wrote none."""
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == "sweep finished":
            found.append(record.get("sweep"))
    assert len(found) <= 1, f"{len(found)} summary lines from one sweep"
    return found[0] if found else None


@dataclass
class Harness:
    """The real handler, in-process, wired to ``client`` and answering to ``cfn``.

    ``api``: CloudFormation's stack reads, which the stacks it makes drive. The
    function's waits are recorded in ``waits`` and not waited, except while
    ``real_sleep`` is set (a sweep's settle time must really pass, or lagging reads
    would defeat it, as they would in AWS).
    """

    cfn: CloudFormationStandIn
    client: Any
    source: str
    waits: list[float] = field(default_factory=list)
    api: CloudFormationApi | None = None
    real_sleep: bool = False
    #: The answer key of every request delivered, in order.
    delivered: list[str] = field(default_factory=list)
    #: The last invocation's delivery.
    last: Delivery | None = None

    def __post_init__(self) -> None:
        self.function = InProcessFunction(
            self.client,
            sleep=self._sleep,
            observe=partial(EVIDENCE.invocation, source=self.source),
        )

    def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.real_sleep:
            time.sleep(seconds)

    def deliver(self, event: Any, timeout_seconds: float = 300.0) -> Delivery:
        """Invoke once; never raises for what the function does."""
        key = self._key(event)
        before = len(self.cfn.bodies(key)) if key else 0
        if key:
            self.delivered.append(key)
        done = self.function.run(event, timeout_seconds)
        seen = done.observed
        answers = self.cfn.bodies(key)[before:] if key else []
        EVIDENCE.count("invocations")
        leaked = leaks(seen.lines, seen.secrets)
        self.last = Delivery(answers, done.seconds, seen.lines, leaked, done.error)
        return self.last

    def invoke(self, event: dict[str, Any], timeout_seconds: float = 300.0) -> None:
        """Invoke and insist: no crash, exactly one answer, nothing secret in the log."""
        done = self.deliver(event, timeout_seconds)
        assert done.error is None, f"the invocation raised {done.error!r}"
        assert len(done.answers) == 1, f"{len(done.answers)} answers to one request"
        assert not done.leaked, f"secret in the log: {done.leaked[:2]}"

    def sweep(self, timeout_seconds: float = 300.0) -> SweepRun:
        """The scheduled sweep, once, with its settle time really waited (deploy
        :data:`SWEEPING` first if it may delete)."""
        self.real_sleep = True
        try:
            done = self.function.run(dict(SCHEDULED_EVENT), timeout_seconds)
        finally:
            self.real_sleep = False
        seen = done.observed
        EVIDENCE.count("sweeps")
        return SweepRun(sweep_summary(seen.lines), done.seconds, seen.lines, done.error)

    def stack(self, name: str, **options: Any) -> SimulatedStack:
        return SimulatedStack(name=name, invoke=self.invoke, cfn=self.cfn, api=self.api, **options)

    def answered_more_or_less_than_once(self) -> list[str]:
        """Delivered requests that CloudFormation did not get exactly one answer for."""
        counts = {key: len(self.cfn.bodies(key)) for key in dict.fromkeys(self.delivered)}
        return [f"request {key[:8]} answered {n} times" for key, n in counts.items() if n != 1]

    def _key(self, event: Any) -> str | None:
        url = event.get("ResponseURL") if isinstance(event, dict) else None
        if isinstance(url, str) and "/cloudformation-responses/" in url:
            return self.cfn.key_of(url)
        return None


def enabled_roles(properties: dict[str, Any] | None) -> set[str]:
    """The role names a resource with these (valid) properties manages."""
    props = properties or {}
    return {
        role.name
        for role in ROLES
        if str(props.get(role.enable_property, role.enabled_by_default)).lower() == "true"
    }


def held_by_answers(stack: SimulatedStack) -> set[str]:
    """The roles a stack was answered SUCCESS for and still holds: Creates and Updates only
    add claims (spec.md, "Update: add-only"); a Delete answered SUCCESS releases them all."""
    held: set[str] = set()
    for entry in stack.history:
        request, answer = entry["request"], entry["answer"]
        if answer.get("Status") != "SUCCESS":
            continue
        if request["RequestType"] == "Delete":
            held = set()
        else:
            held |= enabled_roles(request.get("ResourceProperties"))
    return held


def claim_of(stack: SimulatedStack) -> str:
    """The claim id of a stack's resource."""
    return ResourceRef.parse(stack.stack_id, stack.logical_id).claim_id


DMS_ROLES = frozenset(role.name for role in ROLES)


def _spec(name: str) -> RoleSpec:
    return next(role for role in ROLES if role.name == name)


def foreign_changes(before: RoleView, now: RoleView | None) -> list[str]:
    """How a role this project did not create changed: DMS's managed policy and this
    project's own tags (its claims, the adopted mark) are all it may add."""
    if now is None:
        return [f"{before.name}, not made by this project, was deleted"]
    problems = []
    if now.trust != before.trust:
        problems.append(f"{before.name}: its trust policy changed")
    allowed = before.policy_arns | {_spec(before.name).managed_policy_arn(PARTITION)}
    if not before.policy_arns <= now.policy_arns <= allowed:
        problems.append(f"{before.name}: its managed policies changed to {sorted(now.policy_arns)}")
    if now.inline != before.inline or now.inline_documents != before.inline_documents:
        problems.append(f"{before.name}: its inline policies changed")
    if now.instance_profiles != before.instance_profiles:
        problems.append(f"{before.name}: its instance profiles changed")
    if now.boundary != before.boundary:
        problems.append(f"{before.name}: its boundary changed")

    def theirs(role: RoleView) -> dict[str, str]:
        return {k: v for k, v in role.tags.items() if not k.lower().startswith(TAG_PREFIX)}

    if theirs(now) != theirs(before):
        problems.append(f"{before.name}: its owner's tags changed")
    return problems


@dataclass(frozen=True)
class Scenery:
    """A world's roles, stacks, hand-made roles and deployment (:meth:`World.scenery`)."""

    roles: list[RoleView]
    stacks: dict[str, dict[str, Any]]
    foreign: dict[str, RoleView]
    deployment: dict[str, str]


def _listed_roles(iam: Any) -> list[dict[str, Any]]:
    return list(iam.list_roles(MaxItems=1000)["Roles"])


@dataclass
class World:
    """One test's view: IAM to look at and set up, the function to call, stacks to play.

    ``iam`` is moto itself (consistent); the function reaches it through ``unkind``.
    """

    iam: Any
    harness: Harness
    tap: CallTap
    stacks: dict[str, SimulatedStack] = field(default_factory=dict)
    unkind: UnkindIam | None = None
    cfn_api: CloudFormationApi | None = None
    #: The suite reporting figures (the test module's name without ``test_``).
    suite: str = "prove"
    #: Roles made by hand (not by this project) as they were made: they must stay so.
    foreign: dict[str, RoleView] = field(default_factory=dict)
    #: Claims granted outside a stack's history (a test that calls the domain itself):
    #: role name -> claim ids that were answered SUCCESS and not released.
    granted: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    monkeypatch: pytest.MonkeyPatch | None = None

    # -- set-up ------------------------------------------------------------------------
    def stack(self, name: str, **options: Any) -> SimulatedStack:
        if name not in self.stacks:
            self.stacks[name] = self.harness.stack(name, **options)
        return self.stacks[name]

    def console_role(self, role: RoleSpec, **options: Any) -> RoleView:
        """:func:`testkit.console.make_console_role`, remembered as not this project's."""
        made = make_console_role(self.iam, role, **options)
        found = view(self.iam, role.name, full=True)
        assert found is not None
        self.foreign[role.name] = found
        return made

    def deploy(self, **environment: str) -> None:
        """Change the deployment's settings (environment variables of the function)."""
        assert self.monkeypatch is not None, "a world without a deployment to change"
        for name, value in environment.items():
            self.monkeypatch.setenv(name, value)

    @contextmanager
    def long_ago(self) -> Iterator[None]:
        """What happens in the block is old news to every read: IAM serves reads live
        meanwhile and keeps no view of it (the scenery a test sets up before it acts)."""
        if self.unkind is None:
            yield
            return
        saved = self.unkind.settings
        self.unkind.configure(max_lag=0.0, min_lag=0.0, arn_lag=0.0)
        try:
            yield
        finally:
            self.unkind.configure(saved)

    def show_in_progress(self, stack: SimulatedStack, request_type: str) -> None:
        """CloudFormation shows ``stack``'s resource in ``request_type``'s operation, as
        while it waits for an answer delivered by hand (``harness.deliver``)."""
        assert self.cfn_api is not None
        verb = request_type.upper()
        stack_status = f"{verb}_IN_PROGRESS" if verb != "DELETE" else "DELETE_IN_PROGRESS"
        self.cfn_api.put_stack(stack.stack_id, stack_status)
        self.cfn_api.put_resource(stack.stack_id, stack.logical_id, f"{verb}_IN_PROGRESS")

    def scenery(self) -> Scenery:
        """What this world holds now, to set up again with :meth:`restore` (cheaper than
        playing the requests that made it)."""
        roles = [view(self.iam, r["RoleName"], full=True) for r in _listed_roles(self.iam)]
        stacks = {
            name: {
                "properties": copy.deepcopy(stack.properties),
                "physical_id": stack.physical_id,
                "previous": copy.deepcopy(stack.previous),
                "failed_update": copy.deepcopy(stack.failed_update),
                "history": copy.deepcopy(stack.history),
                "rolling_back": stack.rolling_back,
            }
            for name, stack in self.stacks.items()
        }
        deployment = {name: os.environ.get(name, "") for name in DEPLOYMENT}
        return Scenery([r for r in roles if r is not None], stacks, dict(self.foreign), deployment)

    def restore(self, scenery: Scenery) -> World:
        """A fresh world holding ``scenery``: the roles made again directly in IAM (old
        news to every read), the stacks as CloudFormation settled them, the deployment."""
        world = self.fresh()
        world.deploy(**scenery.deployment)
        for role in scenery.roles:
            extra = {"PermissionsBoundary": role.boundary} if role.boundary else {}
            world.iam.create_role(
                RoleName=role.name,
                Path=role.arn.split(":role", 1)[1].rsplit("/", 1)[0] + "/",
                AssumeRolePolicyDocument=json.dumps(role.trust),
                Tags=[{"Key": k, "Value": v} for k, v in role.tags.items()],
                **extra,
            )
            for arn in sorted(role.policy_arns):
                world.iam.attach_role_policy(RoleName=role.name, PolicyArn=arn)
            for name, document in (role.inline_documents or {}).items():
                world.iam.put_role_policy(
                    RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(document)
                )
        world.foreign = dict(scenery.foreign)
        for name, state in scenery.stacks.items():
            stack = world.stack(name)
            for attribute, value in copy.deepcopy(state).items():
                setattr(stack, attribute, value)
            world.settle_in_cfn(stack)
        return world

    def settle_in_cfn(self, stack: SimulatedStack) -> None:
        """CloudFormation shows ``stack`` as its last answered operation left it."""
        if self.cfn_api is None or not stack.history:
            return
        last = stack.history[-1]
        verb = str(last["request"]["RequestType"]).upper()
        ok = last["answer"].get("Status") == "SUCCESS"
        if verb == "DELETE" and ok:
            self.cfn_api.put_stack(stack.stack_id, "DELETE_IN_PROGRESS")
            self.cfn_api.delete_stack(stack.stack_id)
            return
        status = f"{verb}_COMPLETE" if ok else f"{verb}_FAILED"
        self.cfn_api.put_stack(stack.stack_id, status if ok else "ROLLBACK_IN_PROGRESS")
        self.cfn_api.put_resource(stack.stack_id, stack.logical_id, status)

    def fresh(self) -> World:
        """An account without roles, a proxy that remembers nothing, no stacks, and a new
        function client (as after a cold start). Figures so far are kept."""
        self.absorb()
        if self.monkeypatch is not None:
            self.deploy(**DEPLOYMENT)  # what an earlier case deployed is undone
        if self.unkind is not None:
            self.unkind.reset(moto=False)
        if self.cfn_api is not None:
            self.cfn_api.reset()
        wipe_roles(self.iam)
        client = new_client(self.unkind.url if self.unkind else None)
        harness = Harness(self.harness.cfn, client, self.harness.source, api=self.cfn_api)
        return World(
            self.iam,
            harness,
            CallTap(client),
            unkind=self.unkind,
            cfn_api=self.cfn_api,
            suite=self.suite,
            monkeypatch=self.monkeypatch,
        )

    # -- figures -----------------------------------------------------------------------
    def absorb(self) -> None:
        """Take the proxy's counts into the suite's figures; call it once before every
        reset of the proxy (``fresh`` does, and the ``world`` fixture at its end)."""
        if self.unkind is None:
            return
        stats = self.unkind.stats()
        FIGURES.set(self.suite, DELTA_USED, self.unkind.settings.max_lag, keep_max=True)
        FIGURES.add(self.suite, CONFLICTS, sum(stats["conflicts"].values()))
        FIGURES.add(self.suite, "stale reads served", stats["stale_reads"])
        oldest = round(stats["max_staleness_seconds"], 2)
        FIGURES.set(self.suite, "oldest view served (s)", oldest, keep_max=True)

    def step(self, amount: int = 1) -> None:
        FIGURES.add(self.suite, STEPS, amount)

    # -- the invariant -----------------------------------------------------------------
    def live_claims(self) -> dict[str, set[str]]:
        """Role name -> claim ids of resources answered SUCCESS for it and not released."""
        live: dict[str, set[str]] = defaultdict(set)
        for stack in self.stacks.values():
            for name in held_by_answers(stack):
                live[name].add(claim_of(stack))
        for name, claims in self.granted.items():
            live[name] |= claims
        return live

    def violations(
        self, *, settled: bool = True, roles: dict[str, RoleView] | None = None
    ) -> list[str]:
        """What breaks the promise now, reading IAM as it really is (moto, not the proxy).

        * a role a resource was answered SUCCESS for and has not released is missing,
          lacks that resource's claim, or lacks its managed policy;
        * ``settled`` (no request half done, e.g. not right after a FAILED one): every
          role that carries any claim has its managed policy;
        * a role this project did not create was deleted or changed;
        * a request was answered more or less than once.
        """
        problems: list[str] = []
        if roles is None:
            roles = snapshot(self.iam)
        for name, claims in sorted(self.live_claims().items()):
            role = roles.get(name)
            if role is None:
                problems.append(f"{name} is missing while {len(claims)} answered claim(s) hold it")
                continue
            held = Ownership.of(role.tags)
            lost = sorted(c for c in claims if not held.holds(c))
            if lost:
                problems.append(f"{name} lost the answered claim(s) {lost}")
            if _spec(name).managed_policy_arn(PARTITION) not in role.policy_arns:
                problems.append(f"{name} is claimed by an answered resource without its policy")
        if settled:
            policy_missing = [
                name
                for name, role in roles.items()
                if name in DMS_ROLES
                and Ownership.of(role.tags).claims
                and _spec(name).managed_policy_arn(PARTITION) not in role.policy_arns
            ]
            problems += [
                f"{name} carries claims but not its managed policy" for name in policy_missing
            ]
        for name, before in self.foreign.items():
            problems += foreign_changes(before, roles.get(name))
        problems += self.harness.answered_more_or_less_than_once()
        return problems

    def check(
        self, step: str, *, settled: bool = True, roles: dict[str, RoleView] | None = None
    ) -> list[str]:
        """The invariant after ``step``, counted in the suite's figures; returns the
        violations, each prefixed with the step (the caller asserts or collects them).
        ``roles``: a :func:`~testkit.views.snapshot` taken just now, if the caller has one."""
        found = self.violations(settled=settled, roles=roles)
        FIGURES.add(self.suite, CHECKS)
        FIGURES.add(self.suite, VIOLATIONS, len(found))
        return [f"after {step}: {problem}" for problem in found]

    def created_by_this_project(self) -> dict[str, RoleView]:
        """The DMS roles that exist and carry this project's created mark."""
        found = {role.name: view(self.iam, role.name) for role in ROLES}
        return {
            name: role
            for name, role in found.items()
            if role is not None and role.tags.get(ORIGIN_KEY) == "created"
        }
