"""Bad input: a corpus of malformed requests, each answered exactly once and promptly.

Every case starts from a valid request built from events/, for a resource that
CloudFormation shows in the request's operation, and breaks one thing: missing or
wrong-typed envelope fields, an unknown RequestType, properties that are not an
object, huge values, non-ASCII text, the per-stack settings version 1 had (now
parameters of the deployment: spec.md, "Account settings"), a stack of another
account, a request CloudFormation shows no operation for (forged, replayed, late),
a role already holding 50 tags. Each must get exactly one answer, within seconds:
FAILED with one clear sentence naming what to fix (no traceback), or SUCCESS for a
Delete, and IAM must be left as it was. A request without a usable ResponseURL
cannot be answered: it must end promptly, without crashing, and say so in the log.
IAM is the unkind stand-in; the invariant of the suites is checked after each case.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from dms_prereq.catalogue import VPC_ROLE
from dms_prereq.request import ResourceRef

from testkit.views import snapshot
from tests.prove.world import FIGURES, World

FAILED, SUCCESS, UNANSWERABLE = "FAILED", "SUCCESS", "UNANSWERABLE"
PROMPT_SECONDS = 5.0
MAX_BODY_BYTES = 4096
OTHER_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/elsewhere/1f2e3d4c-0000"
OTHER_ACCOUNT_STACK = "arn:aws:cloudformation:us-east-1:999999999999:stack/theirs/1f2e3d4c-0000"

Mutation = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Case:
    name: str
    request_type: str
    mutate: Mutation
    expect: str
    mentions: str = ""
    #: False: CloudFormation shows the resource in no operation (a forged or late request).
    in_progress: bool = True


def drop(field: str) -> Mutation:
    def mutate(event: dict[str, Any]) -> dict[str, Any]:
        event.pop(field, None)
        return event

    return mutate


def put(field: str, value: Any) -> Mutation:
    def mutate(event: dict[str, Any]) -> dict[str, Any]:
        event[field] = value
        return event

    return mutate


def prop(name: str, value: Any) -> Mutation:
    def mutate(event: dict[str, Any]) -> dict[str, Any]:
        event["ResourceProperties"][name] = value
        return event

    return mutate


def tags(*items: Any) -> Mutation:
    return prop("Tags", list(items))


def same(event: dict[str, Any]) -> dict[str, Any]:
    """The valid request itself (what is wrong is elsewhere: no operation shows it)."""
    return event


def many_unknown(event: dict[str, Any]) -> dict[str, Any]:
    event["ResourceProperties"].update({f"Unknown{i:05d}": "x" for i in range(10_000)})
    return event


CORPUS: tuple[Case, ...] = (
    # -- the envelope -----------------------------------------------------------------
    Case("not-an-object", "Create", lambda e: [e], UNANSWERABLE),
    Case("no-response-url", "Create", drop("ResponseURL"), UNANSWERABLE),
    Case("response-url-not-a-string", "Create", put("ResponseURL", 42), UNANSWERABLE),
    Case("empty-response-url-on-delete", "Delete", put("ResponseURL", ""), UNANSWERABLE),
    Case("no-request-type", "Create", drop("RequestType"), FAILED, "RequestType"),
    Case("unknown-request-type", "Create", put("RequestType", "Destroy"), FAILED, "RequestType"),
    Case("request-type-lower-case", "Create", put("RequestType", "create"), FAILED, "RequestType"),
    Case("request-type-a-number", "Create", put("RequestType", 42), FAILED, "RequestType"),
    Case("no-stack-id", "Create", drop("StackId"), FAILED, "StackId"),
    Case("stack-id-not-an-arn", "Create", put("StackId", "my-stack"), FAILED, "StackId"),
    Case("stack-id-a-number", "Update", put("StackId", 123), FAILED, "StackId"),
    Case("no-logical-id", "Create", drop("LogicalResourceId"), FAILED, "LogicalResourceId"),
    Case("logical-id-a-list", "Create", put("LogicalResourceId", ["x"]), FAILED, "Logical"),
    Case("no-request-id", "Update", drop("RequestId"), FAILED, "RequestId"),
    # -- ResourceProperties as a whole ----------------------------------------------------
    Case("properties-a-list", "Create", put("ResourceProperties", []), FAILED, "Properties"),
    Case("properties-a-string", "Update", put("ResourceProperties", "x"), FAILED, "Properties"),
    Case("unknown-property", "Create", prop("CreateVPCRole", "true"), FAILED, "CreateVPCRole"),
    Case("non-ascii-property-name", "Create", prop("CréateVpcRole", "true"), FAILED, "Créate"),
    Case("ten-thousand-unknown-properties", "Create", many_unknown, FAILED, "Unknown00000"),
    Case("huge-property-name", "Create", prop("X" * 100_000, "1"), FAILED, "Unknown property"),
    # -- booleans, numbers, choices -----------------------------------------------------------
    Case("boolean-yes", "Create", prop("CreateVpcRole", "yes"), FAILED, "CreateVpcRole"),
    Case("boolean-a-number", "Create", prop("CreateVpcRole", 1), FAILED, "CreateVpcRole"),
    Case("boolean-null", "Update", prop("CreateRedshiftRole", None), FAILED, "CreateRedshiftRole"),
    Case("boolean-non-ascii", "Create", prop("CreateVpcRole", "trüe"), FAILED, "CreateVpcRole"),
    Case("delay-negative", "Create", prop("PropagationDelaySeconds", "-1"), FAILED, "Propagation"),
    Case("delay-too-long", "Create", prop("PropagationDelaySeconds", "301"), FAILED, "Propagation"),
    Case("delay-exponent", "Create", prop("PropagationDelaySeconds", "1e3"), FAILED, "Propagation"),
    Case("delay-fraction", "Create", prop("PropagationDelaySeconds", 10.5), FAILED, "Propagation"),
    Case("delay-boolean", "Create", prop("PropagationDelaySeconds", True), FAILED, "Propagation"),
    Case("delay-huge", "Create", prop("PropagationDelaySeconds", "9" * 100_000), FAILED, "Propa"),
    Case("policy-unknown", "Create", prop("ExistingRolePolicy", "Replace"), FAILED, "ExistingRole"),
    # -- per-stack settings of version 1: now the deployment's parameters -----------------
    # A Create that still sets one fails naming the parameter (spec.md, "Account settings":
    # any stack could otherwise change the one shared role under its neighbours).
    Case(
        "boundary-property",
        "Create",
        prop("PermissionsBoundary", "arn:aws:iam::123456789012:policy/b"),
        FAILED,
        "RolePermissionsBoundary parameter",
    ),
    Case("boundary-property-garbage", "Create", prop("PermissionsBoundary", 12), FAILED, "Role"),
    Case("tags-property", "Create", tags({"Key": "team", "Value": "a"}), FAILED, "RoleTags"),
    Case("tags-property-malformed", "Create", prop("Tags", {"team": "a"}), FAILED, "RoleTags"),
    Case(
        "restrict-property",
        "Create",
        prop("RestrictToSourceAccount", "true"),
        FAILED,
        "RestrictToSourceAccount parameter",
    ),
    # -- requests that must change nothing: another account's stack, no operation --------
    Case(
        "stack-of-another-account",
        "Create",
        put("StackId", OTHER_ACCOUNT_STACK),
        FAILED,
        "account 999999999999",
    ),
    Case(
        "update-of-another-account",
        "Update",
        put("StackId", OTHER_ACCOUNT_STACK),
        FAILED,
        "account 999999999999",
    ),
    Case("forged-create", "Create", same, FAILED, "not from a stack operation", False),
    Case("late-update", "Update", same, FAILED, "not from a stack operation", False),
    Case("forged-delete", "Delete", same, SUCCESS, in_progress=False),
    Case("delete-of-another-account", "Delete", put("StackId", OTHER_ACCOUNT_STACK), SUCCESS),
    # -- Delete never fails on bad input (or the stack could never be deleted) -------------
    Case("delete-properties-a-list", "Delete", put("ResourceProperties", []), SUCCESS),
    Case("delete-stack-id-garbage", "Delete", put("StackId", "???"), SUCCESS),
    Case("delete-no-logical-id", "Delete", drop("LogicalResourceId"), SUCCESS),
    Case("delete-bad-tags", "Delete", prop("Tags", "x"), SUCCESS),
    Case("delete-unknown-property", "Delete", prop("Bogus", "1"), SUCCESS),
    Case(
        "delete-other-resources-id",
        "Delete",
        put("PhysicalResourceId", "DmsPrerequisiteRoles-0123456789abcdef0123"),
        SUCCESS,
    ),
    Case("delete-of-another-stack", "Delete", put("StackId", OTHER_STACK), SUCCESS),
)


def _event(world: World, case: Case) -> Any:
    """The valid request of this type, shown in its operation unless the case says not,
    then the case's one defect."""
    assert world.cfn_api is not None
    world.cfn_api.reset()
    stack = world.stack("bad-input")
    if case.in_progress:
        world.show_in_progress(stack, case.request_type)
    if case.request_type != "Create":
        stack.physical_id = ResourceRef.parse(stack.stack_id, stack.logical_id).physical_id
    props = {"PropagationDelaySeconds": "0"}
    return case.mutate(copy.deepcopy(stack.request(case.request_type, props, props)))


def _problems(case: Case, done: Any, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    problems = []
    if done.error is not None:
        problems.append(f"crashed: {done.error!r}")
    if done.seconds > PROMPT_SECONDS:
        problems.append(f"took {done.seconds:.1f} s")
    if done.leaked:
        problems.append("a secret reached the log")
    if case.expect == UNANSWERABLE:
        if done.answers:
            problems.append(f"answered {len(done.answers)} times without a ResponseURL")
        if not any("ResponseURL" in line for line in done.lines):
            problems.append("the log does not say the answer could not be delivered")
        return problems
    if len(done.answers) != 1:
        return [*problems, f"{len(done.answers)} answers"]
    answer = done.answers[0]
    reason = answer.get("Reason", "")
    if answer["Status"] != case.expect:
        problems.append(f"answered {answer['Status']}: {reason}")
    if len(json.dumps(answer).encode()) > MAX_BODY_BYTES:
        problems.append("the answer exceeds 4096 bytes")
    if not answer.get("PhysicalResourceId"):
        problems.append("no PhysicalResourceId")
    if case.expect == FAILED:
        if not reason or len(reason) > 256 or "\n" in reason:
            problems.append(f"reason is not one sentence of at most 256 characters: {reason!r}")
        if "Traceback" in reason or 'File "' in reason:
            problems.append("reason carries a traceback")
        if case.mentions not in reason:
            problems.append(f"reason does not mention {case.mentions!r}: {reason!r}")
    if after != before:
        problems.append("IAM changed")
    return problems


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 30
    assert len({c.name for c in CORPUS}) == len(CORPUS)


def test_every_malformed_request_is_answered_once_clearly_and_changes_nothing(
    world: World,
) -> None:
    live = world.stack("live")
    live.create(PropagationDelaySeconds="0")
    failures = []
    for case in CORPUS:
        before = snapshot(world.iam)
        done = world.harness.deliver(_event(world, case), timeout_seconds=30.0)
        world.step()
        after = snapshot(world.iam)
        failures += [f"{case.name}: {p}" for p in _problems(case, done, before, after)]
        failures += world.check(case.name, roles=after)
    FIGURES.add(world.suite, "malformed requests tried", len(CORPUS))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("moved", ["PermissionsBoundary", "Tags", "RestrictToSourceAccount"])
def test_an_update_or_delete_with_a_version_1_setting_ignores_it_with_a_warning(
    world: World, moved: str
) -> None:
    value: Any = {
        "PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess",
        "Tags": [{"Key": "team", "Value": "a"}],
        "RestrictToSourceAccount": "true",
    }[moved]
    stack = world.stack("upgraded")
    assert stack.create(PropagationDelaySeconds="0")["Status"] == "SUCCESS"
    before = snapshot(world.iam)

    updated = stack.update(PropagationDelaySeconds="0", **{moved: value})
    assert world.harness.last is not None
    lines = world.harness.last.lines
    deleted = stack.delete()
    world.step(2)

    # A rollback sends the old properties again: it must never fail over them.
    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert any('"WARNING"' in line and moved in line for line in lines), "no warning names it"
    assert deleted["Status"] == "SUCCESS"
    after = snapshot(world.iam)
    assert {name: role.boundary for name, role in after.items()} == {
        name: role.boundary for name, role in before.items()
    }, "the old property was applied"
    assert not (problems := world.check(f"Update with {moved}", roles=after)), problems


@pytest.mark.parametrize(
    ("holder", "extra_tags"),
    [("hand-made", 49), ("made-by-this-project", 48)],
)
def test_a_role_already_at_fifty_tags_fails_with_a_reason_and_changes_nothing(
    world: World, holder: str, extra_tags: int
) -> None:
    if holder == "hand-made":
        world.console_role(VPC_ROLE, owners_policies=True, tag_count=extra_tags)
    else:
        world.stack("first").create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
        world.iam.tag_role(
            RoleName=VPC_ROLE.name,
            Tags=[{"Key": f"filler-{i}", "Value": "x"} for i in range(extra_tags)],
        )
    before = snapshot(world.iam)
    crowded = world.stack("crowded")
    world.show_in_progress(crowded, "Create")
    event = crowded.request(
        "Create", {"CreateCloudWatchLogsRole": "false", "PropagationDelaySeconds": "0"}
    )

    done = world.harness.deliver(event)
    world.step()

    FIGURES.add(world.suite, "malformed requests tried")
    assert not (problems := world.check(f"{holder} role at 50 tags")), problems
    assert done.error is None and len(done.answers) == 1
    answer = done.answers[0]
    assert answer["Status"] == "FAILED"
    assert VPC_ROLE.name in answer["Reason"] and "50" in answer["Reason"]
    assert len(answer["Reason"]) <= 256
    assert snapshot(world.iam) == before
