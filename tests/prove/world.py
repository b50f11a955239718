"""The world the proving suites play in: IAM as it stands, and the function.

* Roles are read with :mod:`testkit.views` and made by hand with
  :mod:`testkit.console`; :meth:`World.fresh` wipes the account between cases
  (cheaper than a fresh moto, which reloads ~1,000 managed policies).
* :class:`Harness` invokes the real ``app.lambda_handler`` in-process
  (:class:`~testkit.invoke.InProcessFunction`) with an IAM client of its own,
  under :data:`~testkit.evidence.EVIDENCE`, and counts the answers
  CloudFormation received for each request.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
from dms_prereq.catalogue import ROLES
from dms_prereq.iam import client_config

from testkit import ACCOUNT, REGION
from testkit.console import DESCRIBE_LOGS_POLICY, wipe_roles
from testkit.evidence import EVIDENCE, leaks
from testkit.invoke import InProcessFunction
from testkit.local_aws import SIGNATURE_MARK, CloudFormationStandIn
from testkit.stack import SimulatedStack
from tests.prove.faults import CallTap

PARTITION = "aws"
BOUNDARY_A = f"arn:aws:iam::{ACCOUNT}:policy/dms-boundary-a"
BOUNDARY_B = f"arn:aws:iam::{ACCOUNT}:policy/dms-boundary-b"


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


def new_client() -> Any:
    """An IAM client configured as the function configures its own."""
    return boto3.client("iam", region_name=REGION, config=client_config())


def make_boundaries(iam: Any) -> None:
    """The two customer managed policies the suites use as permissions boundaries."""
    for arn in (BOUNDARY_A, BOUNDARY_B):
        iam.create_policy(
            PolicyName=arn.rsplit("/", 1)[1], PolicyDocument=json.dumps(DESCRIBE_LOGS_POLICY)
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
class Harness:
    """The real handler, in-process, wired to ``client`` and answering to ``cfn``."""

    cfn: CloudFormationStandIn
    client: Any
    source: str
    waits: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.function = InProcessFunction(
            self.client,
            sleep=self.waits.append,
            observe=partial(EVIDENCE.invocation, source=self.source),
        )

    def deliver(self, event: Any, timeout_seconds: float = 300.0) -> Delivery:
        """Invoke once; never raises for what the function does."""
        key = self._key(event)
        before = len(self.cfn.bodies(key)) if key else 0
        done = self.function.run(event, timeout_seconds)
        seen = done.observed
        answers = self.cfn.bodies(key)[before:] if key else []
        EVIDENCE.count("invocations")
        leaked = leaks(seen.lines, seen.secrets)
        return Delivery(answers, done.seconds, seen.lines, leaked, done.error)

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
        wipe_roles(self.iam)
        client = new_client()
        return World(
            self.iam, Harness(self.harness.cfn, client, self.harness.source), CallTap(client)
        )
