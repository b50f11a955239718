"""The bench's rig: the stand-ins, the function warm and cold, and a plain boto3 script.

:class:`Bench` starts a real moto_server (IAM) and the HTTPS CloudFormation
stand-in, points this process at them, and holds the three things every
measurement compares: the function warm (imported once here), the function
cold (a fresh interpreter per request, on Lambda's Python and the shipped
artifact) and a plain boto3 client making the same roles with the fewest calls.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from dms_prereq.catalogue import ROLES, VPC_ROLE, RoleSpec
from dms_prereq.iam import ORIGIN_KEY, claim_key

from bench.harness import AddedLatency, ColdFunction, Served, WarmFunction, serve
from testkit.local_aws import CloudFormationStandIn, MotoServer
from testkit.stack import SimulatedStack


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


class Bench:
    """The stand-ins, the function warm and cold, and a plain boto3 client."""

    def __init__(self, python: str, built: Path, scratch: Path) -> None:
        self.moto = MotoServer().start()
        self.cfn = CloudFormationStandIn().start()
        env = {**self.moto.env(), "SSL_CERT_FILE": str(_trust_store(self.cfn, scratch))}
        os.environ.update(env)
        os.environ.pop("AWS_SAM_LOCAL", None)
        self.raw = boto3.client("iam")
        # moto loads ~1,000 AWS managed policies on its first IAM call: not ours to time.
        self.raw.get_policy(PolicyArn=VPC_ROLE.managed_policy_arn("aws"))
        self.latency = AddedLatency()
        self.latency.attach(self.raw)
        self.warm = WarmFunction()
        self.latency.attach(self.warm.client)
        self.cold = ColdFunction(python, built, env, scratch)
        self._pool = ThreadPoolExecutor(max_workers=len(ROLES), thread_name_prefix="raw")
        self._stacks = 0

    def restart(self) -> None:
        """The warm function gets a new IAM client, as in a new container."""
        self.warm.restart()
        self.latency.attach(self.warm.client)

    def close(self) -> None:
        self._pool.shutdown()
        self.cfn.stop()
        self.moto.stop()

    def stack(self) -> SimulatedStack:
        self._stacks += 1
        return SimulatedStack(name=f"bench-{self._stacks}", invoke=self.warm, cfn=self.cfn)

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
