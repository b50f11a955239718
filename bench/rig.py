"""The bench's rig: the stand-ins, the function warm and cold, and a plain boto3 script.

:class:`Bench` starts the local AWS of :func:`testkit.local_aws.local_aws` (a
real moto_server for IAM, DMS and EC2; CloudFormation's stack reads, which the
function checks every request against; the HTTPS endpoint that takes its
answers), points this process at it, and holds the three things every
measurement compares: the function warm (imported once here), the function
cold (a fresh interpreter per request, on Lambda's Python and the shipped
artifact) and a plain boto3 client making the same roles with the fewest calls.
It also runs the sweep (the scheduled event) and counts what it asked of IAM,
CloudFormation and DMS.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from dms_prereq.catalogue import ROLES, VPC_ROLE, RoleSpec
from dms_prereq.ownership import ORIGIN_KEY, claim_key

from bench.harness import AddedLatency, BenchError, ColdFunction, Served, WarmFunction, serve
from testkit import ACCOUNT, REGION
from testkit.calls import IamCall
from testkit.console import wipe_roles
from testkit.local_aws import CloudFormationStandIn, local_aws
from testkit.stack import SimulatedStack, load_event


def _trust_store(cfn: CloudFormationStandIn, scratch: Path) -> Path:
    """The system's CA certificates plus the stand-in's.

    On Lambda the function trusts the runtime's ~140 public CAs, and loading them is
    part of every TLS context it builds; trusting the stand-in's CA alone would hide
    that cost.
    """
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    bundle = scratch / "ca-bundle.pem"
    public = system.read_text() if system.is_file() else ""
    bundle.write_text(public + Path(cfn.ca_file).read_text())
    return bundle


@dataclass
class RegionalStack(SimulatedStack):
    """A simulated stack in any region of the account (testkit's stacks are all in one).

    ``generation`` tells apart stacks made again under one name: CloudFormation gives
    each a new StackId, so each holds a claim of its own.
    """

    region: str = REGION
    generation: int = 0

    @property
    def stack_id(self) -> str:
        seed = f"{self.region}/{ACCOUNT}/{self.name}/{self.generation}"
        stable = uuid.uuid5(uuid.NAMESPACE_URL, seed)
        return f"arn:aws:cloudformation:{self.region}:{ACCOUNT}:stack/{self.name}/{stable}"


@dataclass(frozen=True)
class SweepRun:
    """One sweep, served warm: its summary, what it asked and how long it took."""

    summary: dict[str, Any]
    iam_calls: list[IamCall]
    #: Requests the CloudFormation and DMS stand-ins received during the sweep, by action.
    cloudformation_calls: dict[str, int]
    dms_calls: dict[str, int]
    #: DMS requests by region.
    dms_regions: dict[str, int]
    wall_s: float


class Bench:
    """The stand-ins, the function warm and cold, and a plain boto3 client."""

    def __init__(self, python: str, built: Path, scratch: Path) -> None:
        self._running = ExitStack()
        self.aws = self._running.enter_context(local_aws())
        self.moto, self.cfn = self.aws.moto, self.aws.cfn
        env = {**self.aws.env(), "SSL_CERT_FILE": str(_trust_store(self.cfn, scratch))}
        os.environ.update(env)
        os.environ.pop("AWS_SAM_LOCAL", None)
        self.raw = boto3.client("iam")
        # moto loads ~1,000 AWS managed policies on its first IAM call: not ours to time.
        self.raw.get_policy(PolicyArn=VPC_ROLE.managed_policy_arn("aws"))
        self.latency = AddedLatency()
        self.latency.attach(self.raw)
        self.warm = WarmFunction()
        self.latency.attach(self.warm.client)
        # Every request is checked with CloudFormation first; that call is remote too.
        self.latency.attach(self.warm.client_for("cloudformation", REGION))
        self.cold = ColdFunction(python, built, env, scratch)
        self._pool = ThreadPoolExecutor(max_workers=len(ROLES), thread_name_prefix="raw")
        self._stacks = 0

    def restart(self) -> None:
        """The warm function gets a new IAM client, as in a new container."""
        self.warm.restart()
        self.latency.attach(self.warm.client)

    def close(self) -> None:
        self._pool.shutdown()
        self._running.close()

    def stack(
        self, region: str = REGION, name: str | None = None, generation: int = 0
    ) -> RegionalStack:
        self._stacks += 1
        return RegionalStack(
            name=name or f"bench-{self._stacks}",
            generation=generation,
            invoke=self.warm,
            cfn=self.cfn,
            api=self.aws.cfn_api,
            region=region,
        )

    def run(
        self,
        stack: SimulatedStack,
        action: str,
        properties: dict[str, str] | None = None,
        *,
        cold: bool = False,
    ) -> Served:
        function = self.cold if cold else self.warm
        return serve(stack, function, self.cfn, action, **(properties or {}))

    def clear_roles(self) -> None:
        """No role in the account, as before a first stack: Deletes leave roles, by design."""
        wipe_roles(self.raw)

    def sweep(self, settings: Mapping[str, str]) -> SweepRun:
        """The scheduled event, served warm, with these account settings (env variables)."""
        cfn_before = Counter(self.aws.cfn_api.calls())
        dms_before = Counter(self.aws.dms_api.calls())
        with _environment(settings):
            self.warm(load_event("scheduled"))
        trace = self.warm.last
        if trace is None or trace.returned is None or not isinstance(trace.value, dict):
            raise BenchError("the sweep returned no summary")
        dms_after = Counter(self.aws.dms_api.calls()) - dms_before
        regions: Counter[str] = Counter()
        actions: Counter[str] = Counter()
        for (region, action), count in dms_after.items():
            regions[region] += count
            actions[action] += count
        return SweepRun(
            summary=trace.value,
            iam_calls=trace.calls,
            cloudformation_calls=dict(Counter(self.aws.cfn_api.calls()) - cfn_before),
            dms_calls=dict(actions),
            dms_regions=dict(regions),
            wall_s=trace.returned - trace.entered,
        )

    # -- the plain boto3 script ----------------------------------------------------------
    def _raw_create(self, role: RoleSpec) -> None:
        """One role in the fewest calls: CreateRole (trust, tags included), AttachRolePolicy."""
        self.raw.create_role(
            RoleName=role.name,
            Path="/",
            AssumeRolePolicyDocument=json.dumps(role.trust_policy(None)),
            Description=f"Lets AWS DMS work: it {role.purpose}.",
            Tags=[
                {"Key": ORIGIN_KEY, "Value": "created"},
                {"Key": claim_key("0123456789abcdef0123"), "Value": "bench raw"},
            ],
        )
        self.raw.attach_role_policy(RoleName=role.name, PolicyArn=role.managed_policy_arn("aws"))

    def raw_create_all(self) -> float:
        """The three roles one after another; seconds taken."""
        started = time.monotonic()
        for role in ROLES:
            self._raw_create(role)
        return time.monotonic() - started

    def raw_create_all_at_once(self) -> float:
        """The three roles in three threads (what any concurrent client could reach here)."""
        started = time.monotonic()
        list(self._pool.map(self._raw_create, ROLES))
        return time.monotonic() - started

    def raw_delete_all(self) -> None:
        for role in ROLES:
            self.raw.detach_role_policy(
                RoleName=role.name, PolicyArn=role.managed_policy_arn("aws")
            )
            self.raw.delete_role(RoleName=role.name)


@contextmanager
def _environment(settings: Mapping[str, str]) -> Iterator[None]:
    """The function reads its account settings from the environment at every invocation."""
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
