"""The world the proving suites play in: IAM as it stands, console roles, and the function.

* :func:`snapshot` is the whole account's roles as IAM reports them, for
  "same end state" comparisons; :func:`wipe` empties the account between cases
  (cheaper than a fresh moto, which reloads ~1,000 managed policies).
* :func:`make_console_role` is a role somebody made by hand before any stack.
* :class:`Harness` invokes the real ``app.lambda_handler`` in-process with an
  IAM client of its own, under :data:`~tests.prove.evidence.EVIDENCE`, and
  counts the answers CloudFormation received for each request.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import boto3
from dms_prereq.catalogue import ROLES, RoleSpec
from dms_prereq.iam import client_config

from tests.prove.evidence import EVIDENCE, leaks
from tests.prove.faults import CallTap
from tools.local_aws import ACCOUNT, REGION, CloudFormationStandIn
from tools.stack import FakeContext, SimulatedStack

PARTITION = "aws"
BOUNDARY_A = f"arn:aws:iam::{ACCOUNT}:policy/dms-boundary-a"
BOUNDARY_B = f"arn:aws:iam::{ACCOUNT}:policy/dms-boundary-b"
#: An AWS managed policy a console user attached for their own reasons.
FOREIGN_MANAGED = "arn:aws:iam::aws:policy/ReadOnlyAccess"
FOREIGN_INLINE = "kept-by-its-owner"
_ALLOW_ALL_LOGS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "logs:Describe*", "Resource": "*"}],
    }
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
            .replace(
                "X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                f"X-Amz-Signature={secrets.token_hex(32)}",
            )
            + f"&X-Amz-Credential={credential}&X-Amz-Date=20260101T000000Z"
            + f"&X-Amz-Security-Token=FwoProve{secrets.token_urlsafe(24)}"
        )


def new_client() -> Any:
    """An IAM client configured as the function configures its own."""
    return boto3.client("iam", region_name=REGION, config=client_config())


# -- IAM as it stands -------------------------------------------------------------------


@dataclass(frozen=True)
class RoleSnapshot:
    """Everything about a role that the function could change."""

    name: str
    arn: str
    trust: str
    tags: tuple[tuple[str, str], ...]
    attached: frozenset[str]
    inline: tuple[tuple[str, str], ...]
    boundary: str | None
    instance_profiles: frozenset[str]

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)

    @property
    def trust_document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.trust)
        return document


def canonical(document: object) -> str:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    return json.dumps(document, sort_keys=True)


def role_snapshot(iam: Any, name: str) -> RoleSnapshot | None:
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None
    tags = iam.list_role_tags(RoleName=name)["Tags"]
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    inline = [
        (
            policy,
            canonical(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]),
        )
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    profiles = iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
    return RoleSnapshot(
        name=name,
        arn=role["Arn"],
        trust=canonical(role["AssumeRolePolicyDocument"]),
        tags=tuple(sorted((t["Key"], t["Value"]) for t in tags)),
        attached=frozenset(p["PolicyArn"] for p in attached),
        inline=tuple(sorted(inline)),
        boundary=role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        instance_profiles=frozenset(p["InstanceProfileName"] for p in profiles),
    )


def snapshot(iam: Any) -> dict[str, RoleSnapshot]:
    """Every role in the account, by name."""
    names = [r["RoleName"] for r in iam.list_roles(MaxItems=1000)["Roles"]]
    found = {name: role_snapshot(iam, name) for name in names}
    return {name: snap for name, snap in found.items() if snap is not None}


def role_brief(iam: Any, name: str) -> RoleSnapshot | None:
    """The role in three calls (GetRole carries tags and trust), inline policies by name
    only, no instance profiles: for checks that run after every step."""
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    return RoleSnapshot(
        name=name,
        arn=role["Arn"],
        trust=canonical(role["AssumeRolePolicyDocument"]),
        tags=tuple(sorted((t["Key"], t["Value"]) for t in role.get("Tags", []))),
        attached=frozenset(p["PolicyArn"] for p in attached),
        inline=tuple((policy, "") for policy in sorted(inline)),
        boundary=role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        instance_profiles=frozenset(),
    )


def wipe(iam: Any) -> None:
    """Delete every role in the account (the suites make no instance profiles)."""
    for role in iam.list_roles(MaxItems=1000)["Roles"]:
        name = role["RoleName"]
        for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)


def make_boundaries(iam: Any) -> None:
    """The two customer managed policies the suites use as permissions boundaries."""
    for arn in (BOUNDARY_A, BOUNDARY_B):
        iam.create_policy(PolicyName=arn.rsplit("/", 1)[1], PolicyDocument=_ALLOW_ALL_LOGS)


def make_console_role(
    iam: Any,
    spec: RoleSpec,
    *,
    principals: tuple[str, ...] | None = None,
    with_managed_policy: bool = True,
    extras: bool = True,
    tag_count: int = 1,
) -> RoleSnapshot:
    """A role of that name made by hand before any stack: its own trust policy (the
    right principals unless told otherwise), perhaps DMS's managed policy, and,
    with ``extras``, an inline policy and another managed policy of its owner's."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConsoleMade",
                "Effect": "Allow",
                "Principal": {"Service": list(principals or spec.principals)},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(
        RoleName=spec.name,
        Path="/",
        AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": f"owner-{i}", "Value": "console"} for i in range(tag_count)],
    )
    if with_managed_policy:
        iam.attach_role_policy(RoleName=spec.name, PolicyArn=spec.managed_policy_arn(PARTITION))
    if extras:
        iam.attach_role_policy(RoleName=spec.name, PolicyArn=FOREIGN_MANAGED)
        iam.put_role_policy(
            RoleName=spec.name, PolicyName=FOREIGN_INLINE, PolicyDocument=_ALLOW_ALL_LOGS
        )
    found = role_brief(iam, spec.name)
    assert found is not None
    return found


def add_inline_policy(iam: Any, name: str) -> None:
    """Somebody uses a project-made role for something else: it must then be kept."""
    iam.put_role_policy(RoleName=name, PolicyName=FOREIGN_INLINE, PolicyDocument=_ALLOW_ALL_LOGS)


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
class Harness:
    """The real handler, in-process, wired to ``client`` and answering to ``cfn``."""

    cfn: CloudFormationStandIn
    client: Any
    source: str
    waits: list[float] = field(default_factory=list)

    def deliver(self, event: Any, timeout_seconds: float = 300.0) -> Delivery:
        """Invoke once; never raises for what the function does."""
        import app

        app.IAM = self.client
        app.sleep = self.waits.append
        key = self._key(event)
        before = len(self.cfn.bodies(key)) if key else 0
        error: BaseException | None = None
        started = time.monotonic()
        with EVIDENCE.invocation(self.client, event, self.source) as seen:
            try:
                app.lambda_handler(event, FakeContext(timeout_seconds))
            except BaseException as raised:
                error = raised
        seconds = time.monotonic() - started
        answers = self.cfn.bodies(key)[before:] if key else []
        EVIDENCE.count("invocations")
        return Delivery(answers, seconds, seen.lines, leaks(seen.lines, seen.secrets), error)

    def invoke(self, event: dict[str, Any], timeout_seconds: float = 300.0) -> None:
        """Invoke and insist: no crash, exactly one answer, nothing secret in the log."""
        done = self.deliver(event, timeout_seconds)
        assert done.error is None, f"the invocation raised {done.error!r}"
        assert len(done.answers) == 1, f"{len(done.answers)} answers to one request"
        assert not done.leaked, f"secret in the log: {done.leaked[:2]}"

    def stack(self, name: str, **options: Any) -> SimulatedStack:
        return SimulatedStack(name=name, invoke=self.invoke, cfn=self.cfn, **options)

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


@dataclass
class World:
    """One test's view: IAM to look at, the function to call, and stacks to play."""

    iam: Any
    harness: Harness
    tap: CallTap
    stacks: dict[str, SimulatedStack] = field(default_factory=dict)

    def stack(self, name: str) -> SimulatedStack:
        if name not in self.stacks:
            self.stacks[name] = self.harness.stack(name)
        return self.stacks[name]

    def fresh(self) -> World:
        """An account without roles and a new function client (as after a cold start)."""
        wipe(self.iam)
        client = new_client()
        return World(
            self.iam, Harness(self.harness.cfn, client, self.harness.source), CallTap(client)
        )
