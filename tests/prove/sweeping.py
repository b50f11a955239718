"""What the histories and the races share: the function with its sweep switched on, DMS in
other regions, IAM's own state to check invariants against, and the figures they report.

Both suites play the function against IAM as it behaves (:class:`testkit.unkind_iam.UnkindIam`:
reads up to ``DELTA`` seconds old, 409s on overlapping writes and on a share of the rest),
CloudFormation's stack reads (:class:`testkit.cfn_api.CloudFormationApi`, which the request
check and the sweep ask) and DMS (:class:`testkit.dms_api.DmsApi` in front of the moto_server
behind the unkind IAM). The function is deployed as a test or demo would deploy it:
``UnclaimedRoleRetentionMinutes`` 0 (a role nobody claims goes at the sweep after the mark)
and ``SWEEP_SETTLE_SECONDS`` 1, above ``DELTA`` as the sweep's two phases need (see
``dms_prereq.sweep``); the account settings set a boundary and a tag, so that the sweep has
something to bring created roles to.

The invariants are checked against moto itself (:class:`Truth`), never through the lagging
proxy: a check that read a view seconds old would report what IAM looked like, not what it is.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
from dms_prereq.catalogue import ROLES, DmsUse
from dms_prereq.ownership import ORIGIN_KEY, TAG_PREFIX, Ownership

from testkit import ACCOUNT, REGION
from testkit.cfn_api import CloudFormationApi
from testkit.dms_api import DmsApi
from testkit.stack import SimulatedStack
from testkit.unkind_iam import UnkindIam, UnkindSettings
from testkit.views import RoleView, view
from tests.prove.world import (
    BOUNDARY_A,
    CHECKS,
    CONFLICTS,
    DELTA_USED,
    FIGURES,
    PARTITION,
    SETTLE_SECONDS,
    STEPS,
    VIOLATIONS,
    unkind_settings,
)

#: Share of writes answered 409 besides the overlapping ones the proxy always refuses.
CONFLICT_RATE = 0.05
#: Regions the sweep asks DMS in (DMS_REGIONS); DMS resources appear in the other two.
DMS_REGIONS = (REGION, "eu-west-1", "ap-southeast-2")
OTHER_REGIONS = DMS_REGIONS[1:]
#: The account settings the function is deployed with (RoleTags, RolePermissionsBoundary).
ROLE_TAG = ("team", "data")


def iam_as_it_behaves(seed: object) -> UnkindSettings:
    """The proving suites' IAM (reads up to Δ old), with 409s on a share of all writes too."""
    return unkind_settings(seed, conflict_rate=CONFLICT_RATE)


def function_environment(cfn_api: CloudFormationApi, dms_api: DmsApi) -> dict[str, str]:
    """The deployment: where CloudFormation and DMS are, and the account settings."""
    return {
        **cfn_api.env(),
        # boto3 reads the DMS endpoint from the variable named after the service id,
        # "Database Migration Service" (AWS SDKs and Tools reference guide,
        # "Service-specific endpoints").
        **dms_api.env(),
        "AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE": dms_api.url,
        "UNCLAIMED_ROLE_RETENTION_MINUTES": "0",
        "SWEEP_SETTLE_SECONDS": str(SETTLE_SECONDS),
        "DMS_REGIONS": ",".join(DMS_REGIONS),
        "ROLE_TAGS": "=".join(ROLE_TAG),
        "ROLE_PERMISSIONS_BOUNDARY": BOUNDARY_A,
        "RESTRICT_TO_SOURCE_ACCOUNT": "false",
        "VERIFY_REQUESTS": "true",
    }


def direct_client(service: str, url: str, region: str = REGION) -> Any:
    """A client of moto itself: consistent reads, for the invariants and the world's set-up."""
    make: Any = boto3.client
    return make(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="truth",
        aws_secret_access_key="truth",
    )


# -- CloudFormation ----------------------------------------------------------------------


@dataclass
class RegionalStack(SimulatedStack):
    """A simulated stack in any region: the function checks a request, and the sweep asks
    about a claim, in the region of its StackId."""

    region: str = REGION

    @property
    def stack_id(self) -> str:
        stable = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.region}/{ACCOUNT}/{self.name}")
        return f"arn:{PARTITION}:cloudformation:{self.region}:{ACCOUNT}:stack/{self.name}/{stable}"


def show(api: CloudFormationApi, stack: SimulatedStack, status: str, resource: str) -> None:
    """What CloudFormation shows of the stack and of its one resource."""
    api.put_stack(stack.stack_id, status)
    api.put_resource(stack.stack_id, stack.logical_id, resource)


# -- IAM as it is -------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleTruth:
    """One role as moto holds it, with this project's reading of its tags."""

    view: RoleView

    @property
    def claims(self) -> dict[str, str]:
        """Claim id -> StackId."""
        return dict(Ownership.of(self.view.tags).claims)

    @property
    def created(self) -> bool:
        return self.view.tags.get(ORIGIN_KEY) == "created"

    @property
    def ours(self) -> dict[str, str]:
        return {k: v for k, v in self.view.tags.items() if k.lower().startswith(TAG_PREFIX)}

    def has_policy(self, name: str) -> bool:
        spec = next(role for role in ROLES if role.name == name)
        return spec.managed_policy_arn(PARTITION) in self.view.policy_arns


class Truth:
    """The DMS roles (and any other role) as moto holds them: what IAM really is."""

    def __init__(self, url: str) -> None:
        self.iam = direct_client("iam", url)

    def role(self, name: str) -> RoleTruth | None:
        found = view(self.iam, name, full=True)
        return RoleTruth(found) if found is not None else None

    def roles(self) -> dict[str, RoleTruth | None]:
        return {role.name: self.role(role.name) for role in ROLES}


# -- DMS in other regions ----------------------------------------------------------------

#: The DMS resources the suites make, and the kind of use each stands for.
DMS_KINDS: dict[str, DmsUse] = {
    "subnet-group": DmsUse.SUBNET_GROUPS,
    "replication-config": DmsUse.REPLICATION_CONFIGS,
    "redshift-endpoint": DmsUse.REDSHIFT_ENDPOINTS,
}


#: What the sweep asks DMS (dms_prereq.dms_usage); a region "unreadable" refuses these.
FUNCTION_READS = (
    "DescribeReplicationInstances",
    "DescribeReplicationSubnetGroups",
    "DescribeReplicationConfigs",
    "DescribeEndpoints",
)


def roles_used_by(kind: str) -> set[str]:
    """The roles a DMS resource of this kind relies on (the catalogue's ``used_by``)."""
    return {role.name for role in ROLES if DMS_KINDS[kind] in role.used_by}


@dataclass(frozen=True)
class DmsResource:
    kind: str
    region: str
    identifier: str


class DmsWorld:
    """DMS resources made and removed in other regions, as a console user would.

    Subnet groups and Redshift endpoints go to moto through the DmsApi proxy (moto needs
    a VPC's subnets in the region for a subnet group, made once per region); serverless
    replication configs go to the proxy's own registry (moto has none).
    """

    def __init__(self, moto: str, dms_api: DmsApi) -> None:
        self._moto = moto
        self.api = dms_api
        self._subnets: dict[str, list[str]] = {}
        self.resources: list[DmsResource] = []
        self._serial = 0
        self.failing: set[str] = set()

    def _client(self, region: str) -> Any:
        return direct_client("dms", self.api.url, region)

    def _subnets_in(self, region: str) -> list[str]:
        if region not in self._subnets:
            ec2 = direct_client("ec2", self._moto, region)
            vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
            self._subnets[region] = [
                ec2.create_subnet(
                    VpcId=vpc, CidrBlock=f"10.77.{n}.0/24", AvailabilityZone=f"{region}{zone}"
                )["Subnet"]["SubnetId"]
                for n, zone in ((1, "a"), (2, "b"))
            ]
        return self._subnets[region]

    def add(self, kind: str, region: str) -> DmsResource:
        self._serial += 1
        identifier = f"console-{kind}-{self._serial}"
        if kind == "subnet-group":
            self._client(region).create_replication_subnet_group(
                ReplicationSubnetGroupIdentifier=identifier,
                ReplicationSubnetGroupDescription="made in the console",
                SubnetIds=self._subnets_in(region),
            )
        elif kind == "redshift-endpoint":
            self._client(region).create_endpoint(
                EndpointIdentifier=identifier,
                EndpointType="target",
                EngineName="redshift",
                ServerName="warehouse.example.internal",
                Port=5439,
                DatabaseName="dev",
                Username="loader",
                Password="not-a-secret-0",
            )
        else:
            self.api.add_replication_config(region, identifier)
        made = DmsResource(kind, region, identifier)
        self.resources.append(made)
        return made

    def remove(self, resource: DmsResource) -> None:
        client = self._client(resource.region)
        if resource.kind == "subnet-group":
            client.delete_replication_subnet_group(
                ReplicationSubnetGroupIdentifier=resource.identifier
            )
        elif resource.kind == "redshift-endpoint":
            moto = direct_client("dms", self._moto, resource.region)
            arns = [
                e["EndpointArn"]
                for e in moto.describe_endpoints()["Endpoints"]
                if e["EndpointIdentifier"] == resource.identifier
            ]
            for arn in arns:
                client.delete_endpoint(EndpointArn=arn)
        else:
            self.api.remove_replication_config(resource.region, resource.identifier)
        self.resources.remove(resource)

    def fail(self, region: str) -> None:
        """The function may not read DMS there (its console users still work)."""
        self.api.fail_region(region, "AccessDeniedException", actions=FUNCTION_READS)
        self.failing.add(region)

    def heal(self, region: str) -> None:
        self.api.heal_region(region)
        self.failing.discard(region)

    def used_roles(self) -> set[str]:
        """The roles some DMS resource relies on now."""
        return {name for r in self.resources for name in roles_used_by(r.kind)}

    def clear(self) -> None:
        """Everything made removed, every region readable again."""
        for region in list(self.failing):
            self.heal(region)
        for resource in list(self.resources):
            self.remove(resource)


# -- figures --------------------------------------------------------------------------------


@dataclass
class SuiteFigures:
    """What one suite did, for ``make prove``'s summary (tests/prove/world.py FIGURES), and
    the violations it found, for its own assertion."""

    suite: str
    started: float = field(default_factory=time.monotonic)
    violations: list[str] = field(default_factory=list)

    def count(self, name: str, amount: int = 1) -> None:
        FIGURES.add(self.suite, name, amount)

    def get(self, name: str) -> float:
        value = FIGURES.get(self.suite, name)
        return value if isinstance(value, int | float) else 0

    def step(self) -> None:
        FIGURES.add(self.suite, STEPS)

    def check(self, ok: bool, problem: str) -> bool:
        """One invariant check; a failed one is a violation."""
        FIGURES.add(self.suite, CHECKS)
        if not ok:
            FIGURES.add(self.suite, VIOLATIONS)
            self.violations.append(problem)
        return ok

    def absorb(self, unkind: UnkindIam) -> None:
        """Take the proxy's counts before it forgets them (every reset)."""
        stats = unkind.stats()
        FIGURES.set(self.suite, DELTA_USED, unkind.settings.max_lag, keep_max=True)
        FIGURES.add(self.suite, CONFLICTS, sum(stats["conflicts"].values()))
        FIGURES.add(self.suite, "409s on overlapping writes", stats["conflicts"].get("overlap", 0))
        FIGURES.add(self.suite, "stale reads served", stats["stale_reads"])
        oldest = round(stats["max_staleness_seconds"], 2)
        FIGURES.set(self.suite, "oldest view served (s)", oldest, keep_max=True)

    def finish(self) -> None:
        FIGURES.set(self.suite, "settle time (s)", SETTLE_SECONDS)
        FIGURES.set(self.suite, "wall time (s)", round(time.monotonic() - self.started, 1))
