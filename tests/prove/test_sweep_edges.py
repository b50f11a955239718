"""Edges of the sweep that the random histories and races met, each played on its own.

Each failed against the function as committed in 10bca35 and passes with its fix:

* One sweep asks CloudFormation about a stack once, however many roles carry claims of
  it (issue 11: "One DescribeStacks per distinct stack per sweep at most"). The three
  roles are swept on three threads, and every thread that met the same stack asked
  (3 DescribeStacks for one stack; the histories saw it).
* A read that lags a CreateRole is IAM's eventual consistency, not a failed lookup: the
  sweep's GetRole may show a role made a moment ago while its ListAttachedRolePolicies
  still answers NoSuchEntity (each read is answered by a view of its own). The spec
  retries such a NoSuchEntity rather than report it; the sweep counted it in
  ``FailedLookups``, which the example alarm watches (twice in 12 race rounds).
* A detach that lands late: the sweep's argument (``dms_prereq.sweep``) takes the detach
  to follow its first re-read at once. A DetachRolePolicy held up longer than a settle
  time (409s and throttling retried with back-off, a frozen execution environment) lands
  after a claimant that met the deletion waited out the settle time, attached again and
  was answered SUCCESS: its role was without the policy until the sweep's second re-read
  put it back, a settle time later (60 s by default).
* A role deleted and made anew between a claimant's TagRole and its AttachRolePolicy
  (the races, seed 7, round 3): the claim went with the old role, the attach succeeded on
  the new one, and the stack was answered SUCCESS without a claim on the role it relies
  on; once the stack that made the role anew went, the sweep would delete it.
* A sweep in a warm execution environment logged the stack_id and request_type of the
  CloudFormation request the environment served before (the Logger kept appended keys
  across invocations), so its summary line named a stack it had nothing to do with.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from dms_prereq.catalogue import ROLES, VPC_ROLE
from dms_prereq.clients import client_config
from dms_prereq.dms_usage import DmsSurvey
from dms_prereq.ownership import ORIGIN_KEY, UNCLAIMED_SINCE_KEY, claim_key
from dms_prereq.request import claim_id_for
from dms_prereq.settings import AccountSettings
from dms_prereq.stacks import StackLookup
from dms_prereq.sweep import Sweeper, SweepReport

from testkit import ACCOUNT, REGION
from testkit.cfn_api import CloudFormationApi
from testkit.evidence import RecordingClients
from testkit.local_aws import MotoServer
from testkit.stack import SimulatedStack, stack_id
from testkit.unkind_iam import UnkindIam
from tests.prove.faults import CallKey, CallTap, Fault, FaultPlan
from tests.prove.sweeping import Truth, iam_as_it_behaves
from tests.prove.world import (
    DEPLOYMENT,
    PARTITION,
    SETTLE_SECONDS,
    Harness,
    SignedStandIn,
)

pytestmark = pytest.mark.slow

#: How long a held call waits at most for the test to let it go.
PATIENCE = 30.0
#: A stack whose Create made a role (CloudFormation shows it CREATE_COMPLETE).
STACK = stack_id("consumer")


@pytest.fixture
def iam(unkind: UnkindIam) -> Iterator[UnkindIam]:
    unkind.configure(iam_as_it_behaves("sweep-edges"))
    yield unkind


def _sweeper(iam_client: Any, cfn_api: CloudFormationApi) -> Sweeper:
    """The sweep as app.py builds it, with clients of its own (DMS asked nowhere: these
    edges are about IAM and CloudFormation)."""
    make: Any = boto3.client

    def cfn(region: str) -> Any:
        return make("cloudformation", region_name=region, endpoint_url=cfn_api.url)

    settings = AccountSettings(retention_minutes=0, sweep_settle_seconds=SETTLE_SECONDS)
    return Sweeper(
        iam_client,
        StackLookup(cfn, ACCOUNT),
        DmsSurvey(lambda region: None, [], None),
        settings,
        PARTITION,
        sleep=time.sleep,
    )


def _made_role(truth: Truth, name: str, tags: dict[str, str]) -> None:
    """A role this project made, written to IAM directly: old news to every read."""
    spec = next(role for role in ROLES if role.name == name)
    truth.iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(spec.trust_policy(None)),
        Tags=[{"Key": ORIGIN_KEY, "Value": "created"}]
        + [{"Key": k, "Value": v} for k, v in tags.items()],
    )
    truth.iam.attach_role_policy(RoleName=name, PolicyArn=spec.managed_policy_arn(PARTITION))


def _live_stack(cfn_api: CloudFormationApi) -> dict[str, str]:
    cfn_api.reset()
    cfn_api.put_stack(STACK, "CREATE_COMPLETE")
    cfn_api.put_resource(STACK, "DmsRoles", "CREATE_COMPLETE")
    return {claim_key(claim_id_for(STACK, "DmsRoles")): STACK}


def test_one_sweep_asks_cloudformation_about_a_stack_once(
    iam: UnkindIam, unkind_moto: MotoServer, cfn_api: CloudFormationApi
) -> None:
    truth = Truth(unkind_moto.url)
    claim = _live_stack(cfn_api)
    for role in ROLES:
        _made_role(truth, role.name, claim)
    client = boto3.client("iam", region_name=REGION, endpoint_url=iam.url, config=client_config())
    worst: Counter[str] = Counter()
    for _ in range(5):  # the roles' threads race differently every time
        before = len(cfn_api.requests())
        report = _sweeper(client, cfn_api).run()
        asked = Counter(r.action for r in cfn_api.requests()[before:])
        worst = Counter({k: max(worst[k], asked[k]) for k in asked | worst})
        assert {r.role: r.kept for r in report.roles if r.kept} == dict.fromkeys(
            [r.name for r in ROLES], "claimed"
        )
    assert worst["DescribeStacks"] == 1, f"one stack, {worst['DescribeStacks']} DescribeStacks"
    assert worst["ListStackResources"] == 1, f"{worst['ListStackResources']} ListStackResources"


def test_a_read_lagging_a_create_is_no_failed_lookup(
    iam: UnkindIam, unkind_moto: MotoServer, cfn_api: CloudFormationApi
) -> None:
    truth = Truth(unkind_moto.url)
    _made_role(truth, VPC_ROLE.name, _live_stack(cfn_api))  # a Create made it a moment ago
    client = boto3.client("iam", region_name=REGION, endpoint_url=iam.url, config=client_config())
    tap = CallTap(client)
    # GetRole shows the role; ListAttachedRolePolicies is answered from a view older than
    # the CreateRole, as IAM may answer any read for a few seconds after it.
    tap.start(
        FaultPlan(CallKey("ListAttachedRolePolicies", VPC_ROLE.name, 1), Fault.NO_SUCH_ENTITY)
    )

    report: SweepReport = _sweeper(client, cfn_api).run()

    swept = next(r for r in report.roles if r.role == VPC_ROLE.name)
    assert tap.injected, "the sweep did not read the role's policies"
    assert report.failed_lookups == {}, f"{report.failed_lookups}: {swept.failed}"


def test_a_late_detach_never_strips_a_role_its_claimant_was_answered_for(
    iam: UnkindIam,
    unkind_moto: MotoServer,
    cfn_api: CloudFormationApi,
    signed_cfn: SignedStandIn,
    function_clients: RecordingClients,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**DEPLOYMENT, "SWEEP_SETTLE_SECONDS": str(SETTLE_SECONDS)}.items():
        monkeypatch.setenv(name, value)
    cfn_api.reset()
    truth = Truth(unkind_moto.url)
    # Made by this project, nobody claims it, marked unclaimed long ago: the sweep deletes.
    _made_role(truth, VPC_ROLE.name, {UNCLAIMED_SINCE_KEY: "2026-01-01T00:00:00Z"})
    policy = VPC_ROLE.managed_policy_arn(PARTITION)
    sweep_client = boto3.client(
        "iam", region_name=REGION, endpoint_url=iam.url, config=client_config()
    )
    detach_due, let_go, detached = threading.Event(), threading.Event(), threading.Event()

    def hold(**_: Any) -> None:
        detach_due.set()  # its first re-read saw no claim
        let_go.wait(PATIENCE)

    events = sweep_client.meta.events
    events.register("before-call.iam.DetachRolePolicy", hold)
    events.register("after-call.iam.DetachRolePolicy", lambda **_: detached.set())
    reports: list[SweepReport] = []
    sweep = threading.Thread(target=lambda: reports.append(_sweeper(sweep_client, cfn_api).run()))
    sweep.start()
    try:
        assert detach_due.wait(PATIENCE), "the sweep never came to detach"
        # A stack comes for the role now: it meets the sweep's deleting-since mark, claims,
        # attaches, waits out the settle time, attaches again, and is answered.
        client = boto3.client(
            "iam", region_name=REGION, endpoint_url=iam.url, config=client_config()
        )
        harness = Harness(signed_cfn, client, "test_sweep_edges", api=cfn_api, real_sleep=True)
        stack = SimulatedStack(
            name="late-comer", invoke=harness.invoke, cfn=signed_cfn, api=cfn_api
        )
        answer = stack.create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
        assert answer["Status"] == "SUCCESS", answer["Reason"]
    finally:
        let_go.set()  # the detach, held up by retries, lands now
    assert detached.wait(PATIENCE)
    # The stack was answered SUCCESS a moment ago: its role must have its policy again at
    # once (a sweep whose detach came late can tell and put it back), not only when the
    # sweep's second re-read sees the claim, a settle time later.
    deadline = time.monotonic() + SETTLE_SECONDS / 4
    role = truth.role(VPC_ROLE.name)
    while role is not None and not role.has_policy(VPC_ROLE.name) and time.monotonic() < deadline:
        time.sleep(0.02)
        role = truth.role(VPC_ROLE.name)
    sweep.join(PATIENCE)
    assert reports, "the sweep did not finish"
    assert role is not None and claim_id_for(stack.stack_id, "DmsRoles") in role.claims
    after = truth.role(VPC_ROLE.name)
    assert after is not None and after.has_policy(VPC_ROLE.name), "the policy never came back"
    assert policy in role.view.policy_arns, "answered SUCCESS, the role lost its policy"


def test_a_role_deleted_and_made_anew_between_claim_and_attach_keeps_the_claim(
    iam: UnkindIam,
    unkind_moto: MotoServer,
    cfn_api: CloudFormationApi,
    signed_cfn: SignedStandIn,
    function_clients: RecordingClients,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by the races (seed 7, round 3): a stack that comes while the sweep deletes a
    role nobody claimed tags its claim on that role, the sweep's DeleteRole (its second
    re-read too early to see the claim, the policy already detached) takes the role and
    the claim with it, another stack that comes at the same moment makes the role anew
    with its own claim, and the first stack's AttachRolePolicy meets the new role: it
    succeeds, so the first stack is answered SUCCESS without a claim on the role. Once the
    other stack goes, the sweep deletes the role under it."""
    for name, value in {**DEPLOYMENT, "SWEEP_SETTLE_SECONDS": str(SETTLE_SECONDS)}.items():
        monkeypatch.setenv(name, value)
    cfn_api.reset()
    truth = Truth(unkind_moto.url)
    _made_role(truth, VPC_ROLE.name, {UNCLAIMED_SINCE_KEY: "2026-01-01T00:00:00Z"})
    sweep_client = boto3.client(
        "iam", region_name=REGION, endpoint_url=iam.url, config=client_config()
    )
    client = boto3.client("iam", region_name=REGION, endpoint_url=iam.url, config=client_config())
    about_to_delete, about_to_attach, deleted, made_anew = (threading.Event() for _ in range(4))

    def wait(event: threading.Event) -> None:
        assert event.wait(PATIENCE), "a step of the interleaving never came"

    def before_delete(**_: Any) -> None:
        # The sweep's second re-read saw no claim; its DeleteRole waits for the stack.
        if not about_to_delete.is_set():
            about_to_delete.set()
            wait(about_to_attach)

    def role_gone(parsed: dict[str, Any], **_: Any) -> None:
        if "Error" not in parsed:  # not a 409 that the sweep tries again
            deleted.set()

    def before_attach(**_: Any) -> None:
        # The stack has tagged its claim (and removed the sweep's marks) on the old role.
        if not about_to_attach.is_set():
            about_to_attach.set()
            wait(made_anew)

    sweep_client.meta.events.register("before-call.iam.DeleteRole", before_delete)
    sweep_client.meta.events.register("after-call.iam.DeleteRole", role_gone)
    client.meta.events.register("before-call.iam.TagRole", lambda **_: wait(about_to_delete))
    client.meta.events.register("before-call.iam.AttachRolePolicy", before_attach)
    reports: list[SweepReport] = []
    sweep = threading.Thread(target=lambda: reports.append(_sweeper(sweep_client, cfn_api).run()))
    sweep.start()
    harness = Harness(signed_cfn, client, "test_sweep_edges", api=cfn_api, real_sleep=True)
    first = SimulatedStack(name="first-comer", invoke=harness.invoke, cfn=signed_cfn, api=cfn_api)
    answers: list[dict[str, Any]] = []
    claimant = threading.Thread(
        target=lambda: answers.append(
            first.create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
        )
    )
    claimant.start()
    wait(deleted)
    # Another stack's Create makes the role anew at that moment, with its own claim.
    other = stack_id("second-comer")
    cfn_api.put_stack(other, "CREATE_COMPLETE")
    cfn_api.put_resource(other, "DmsRoles", "CREATE_COMPLETE")
    _made_role(truth, VPC_ROLE.name, {claim_key(claim_id_for(other, "DmsRoles")): other})
    made_anew.set()
    claimant.join(PATIENCE)
    sweep.join(PATIENCE)
    assert answers and answers[0]["Status"] == "SUCCESS", answers
    role = truth.role(VPC_ROLE.name)
    assert role is not None and role.has_policy(VPC_ROLE.name)
    assert claim_id_for(first.stack_id, "DmsRoles") in role.claims, (
        f"{first.name} was answered SUCCESS, but {VPC_ROLE.name} holds no claim of it: "
        "when the other stack goes, the sweep deletes the role under it"
    )


def test_a_sweep_after_a_request_in_a_warm_environment_logs_nothing_of_that_request(
    iam: UnkindIam,
    cfn_api: CloudFormationApi,
    signed_cfn: SignedStandIn,
    function_clients: RecordingClients,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**DEPLOYMENT, "SWEEP_SETTLE_SECONDS": str(SETTLE_SECONDS)}.items():
        monkeypatch.setenv(name, value)
    cfn_api.reset()
    client = boto3.client("iam", region_name=REGION, endpoint_url=iam.url, config=client_config())
    harness = Harness(signed_cfn, client, "test_sweep_edges", api=cfn_api)
    stack = SimulatedStack(
        name="before-the-sweep", invoke=harness.invoke, cfn=signed_cfn, api=cfn_api
    )
    assert stack.create(PropagationDelaySeconds="0")["Status"] == "SUCCESS"

    swept = harness.sweep()  # the next invocation of the same (warm) environment

    assert swept.error is None and swept.summary is not None
    records = [json.loads(line) for line in swept.lines if line.startswith("{")]
    stale = sorted(
        {key for record in records for key in ("stack_id", "request_type") if key in record}
    )
    assert not stale, f"the sweep's log lines carry the previous request's {stale}"
