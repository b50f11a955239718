"""What DMS has that uses the roles, region by region.

DMS finds its roles by name, so a replication instance made in the console
relies on ``dms-vpc-role`` without any claim. Before the sweep deletes a role
it asks DMS, in every region of ``DmsRegions``, for the resources that use it
(:attr:`dms_prereq.catalogue.RoleSpec.used_by`), as AWS itself does before it
deletes a service-linked role. Regions are asked concurrently; a region that
cannot be asked makes the answer uncertain, and an uncertain answer keeps the
role.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .catalogue import REDSHIFT_ENGINES, DmsUse, RoleSpec
from .errors import AwsError, translate

log = logging.getLogger(__name__)

#: A DMS client for a region.
ClientFor = Callable[[str], Any]
#: Regions asked at once.
MAX_PARALLEL_REGIONS = 8


@dataclass(frozen=True)
class RegionUsage:
    region: str
    #: How many of each kind the region has; empty when it could not be asked.
    counts: dict[DmsUse, int] = field(default_factory=dict)
    #: Why the region could not be asked (the call and the error code), or None.
    problem: str | None = None


@dataclass(frozen=True)
class Usage:
    """The answer for one role: who uses it where, and where DMS could not be asked."""

    users: dict[str, dict[DmsUse, int]]
    unknown: dict[str, str]

    @property
    def in_use(self) -> bool:
        return bool(self.users)

    def describe(self) -> str:
        return "; ".join(
            f"{region}: " + ", ".join(f"{n} {kind.value}" for kind, n in kinds.items())
            for region, kinds in sorted(self.users.items())
        )


def dms_regions(partition: str) -> frozenset[str]:
    """Regions where DMS is offered, from the endpoint data botocore ships."""
    return frozenset(boto3.session.Session().get_available_regions("dms", partition))


def regions_to_ask(
    ec2: Any, configured: tuple[str, ...] | None, partition: str
) -> tuple[list[str], str | None]:
    """The regions of ``DmsRegions`` (default: every enabled region) where DMS is offered.

    Returns the regions and, when the enabled regions could not be listed, why.
    """
    offered = dms_regions(partition)
    if configured is not None:
        return sorted(r for r in configured if r in offered or not offered), None
    try:
        enabled = [r["RegionName"] for r in ec2.describe_regions()["Regions"]]
    except (ClientError, BotoCoreError) as error:
        failure = translate(error, "DescribeRegions", "this account", service="ec2")
        return [], str(failure)
    return sorted(r for r in enabled if r in offered or not offered), None


def _count(client: Any, operation: str, key: str, keep: Callable[[Any], bool]) -> int:
    """Items of a paged DMS Describe* call (DMS pages with Marker) that ``keep`` counts."""
    found, marker = 0, ""
    while True:
        page = getattr(client, operation)(**({"Marker": marker} if marker else {}))
        found += sum(1 for item in page.get(key, []) if keep(item))
        marker = page.get("Marker") or ""
        if not marker:
            return found


#: Per kind: the DMS operation, the key of its list, and which items count.
_QUERIES: dict[DmsUse, tuple[str, str, Callable[[Any], bool]]] = {
    DmsUse.REPLICATION_INSTANCES: (
        "describe_replication_instances",
        "ReplicationInstances",
        lambda _: True,
    ),
    DmsUse.SUBNET_GROUPS: (
        "describe_replication_subnet_groups",
        "ReplicationSubnetGroups",
        lambda _: True,
    ),
    DmsUse.REPLICATION_CONFIGS: (
        "describe_replication_configs",
        "ReplicationConfigs",
        lambda _: True,
    ),
    DmsUse.REDSHIFT_ENDPOINTS: (
        "describe_endpoints",
        "Endpoints",
        lambda e: str(e.get("EngineName", "")).lower() in REDSHIFT_ENGINES,
    ),
}


def _survey_region(client_for: ClientFor, region: str, kinds: set[DmsUse]) -> RegionUsage:
    counts: dict[DmsUse, int] = {}
    for kind in sorted(kinds):
        operation, key, keep = _QUERIES[kind]
        try:
            counts[kind] = _count(client_for(region), operation, key, keep)
        except (ClientError, BotoCoreError) as error:
            action = "".join(part.title() for part in operation.split("_"))
            failure: AwsError = translate(error, action, region, service="dms")
            log.warning("DMS not readable", extra={"region": region, "reason": str(failure)})
            return RegionUsage(region, {}, f"dms:{action} ({failure.code or 'error'})")
    return RegionUsage(region, counts)


class DmsSurvey:
    """Asks every region once per sweep, on first need, for every kind any role needs."""

    def __init__(self, client_for: ClientFor, regions: list[str], problem: str | None) -> None:
        self._client_for = client_for
        self._regions = regions
        self._problem = problem
        self._result: dict[str, RegionUsage] | None = None
        self._lock = threading.Lock()

    def regions(self) -> dict[str, RegionUsage]:
        """Every region's usage; the first caller asks DMS, the others wait for its answer."""
        with self._lock:
            if self._result is None:
                kinds = set(_QUERIES)
                with ThreadPoolExecutor(max_workers=MAX_PARALLEL_REGIONS) as pool:
                    found = list(
                        pool.map(
                            lambda r: _survey_region(self._client_for, r, kinds), self._regions
                        )
                    )
                self._result = {usage.region: usage for usage in found}
            return self._result

    @property
    def problem(self) -> str | None:
        """Why the regions to ask could not be listed (ec2:DescribeRegions), or None."""
        return self._problem

    def asked(self) -> dict[str, RegionUsage]:
        """What the regions answered, if this sweep needed to ask them; else nothing."""
        with self._lock:
            return dict(self._result or {})

    def usage_of(self, role: RoleSpec) -> Usage:
        users: dict[str, dict[DmsUse, int]] = {}
        unknown: dict[str, str] = {}
        if self._problem is not None:
            unknown["(regions)"] = self._problem
        for region, usage in self.regions().items():
            if usage.problem is not None:
                unknown[region] = usage.problem
                continue
            kinds = {k: usage.counts.get(k, 0) for k in role.used_by if usage.counts.get(k, 0)}
            if kinds:
                users[region] = kinds
        return Usage(users, unknown)
