"""The scheduled event, and the sweep's CloudWatch metrics (Powertools, embedded metric format).

Namespace ``DmsPrerequisiteRoles``; counts per sweep, and failed lookups per
region (a dimension), on which examples/alarm-failed-lookups.yaml alarms.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from .sweep import SweepReport

NAMESPACE = "DmsPrerequisiteRoles"
FAILED_LOOKUPS = "FailedLookups"


def is_scheduled(event: Any) -> bool:
    """An EventBridge scheduled event (the sweep's schedule), not a CloudFormation request."""
    return (
        isinstance(event, dict)
        and event.get("source") == "aws.events"
        and event.get("detail-type") == "Scheduled Event"
    )


def publish(report: SweepReport, metrics: Metrics) -> None:
    """One set of counts per sweep (the alarm watches the total of failed lookups), then
    the reasons roles were kept and the failed lookups by region, as dimensions."""
    counts = {
        "StaleClaimsReleased": report.released,
        "RolesMarked": report.count("marked"),
        "RolesDeleted": report.count("deleted"),
        "RolesKept": report.count("kept"),
        "PoliciesReattached": report.count("reattached"),
        "AdoptedRolesUntagged": report.count("untagged_adopted"),
        FAILED_LOOKUPS: sum(report.failed_lookups.values()),
    }
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()
    for role in report.roles:
        if role.kept is not None:
            with single_metric(
                name="RolesKeptBecause", unit=MetricUnit.Count, value=1, namespace=NAMESPACE
            ) as metric:
                metric.add_dimension(name="reason", value=role.kept.value)
    for region, failures in sorted(report.failed_lookups.items()):
        with single_metric(
            name=FAILED_LOOKUPS, unit=MetricUnit.Count, value=failures, namespace=NAMESPACE
        ) as metric:
            metric.add_dimension(name="region", value=region)
