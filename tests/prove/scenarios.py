"""Representative operations, each with the world it meets: the fault matrix and the
least-privilege check both replay them.

Between them they reach every IAM call the function can make: create, join
(tag, trust repair, boundary), adopt, release (untag), delete (detach, re-read,
delete), keep (DeleteConflict, listing what blocks it, re-attach), and the
boundary removal of an Update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE

from testkit.console import add_owners_policy, make_console_role
from tests.prove.world import BOUNDARY_A, World

SUBJECT = "subject"
OTHER = "other"


@dataclass(frozen=True)
class Scenario:
    """``prepare`` builds the world (and the subject's earlier requests); ``act`` is the
    operation under test and returns CloudFormation's answer."""

    name: str
    operation: str
    prepare: Callable[[World], None]
    act: Callable[[World], dict[str, Any]]


def _tags(**pairs: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


# -- Create: one role made, one joined (created for another stack), one adopted ---------------


def _prepare_create(world: World) -> None:
    make_console_role(world.iam, REDSHIFT_ROLE, owners_policies=True, tag_count=1)
    world.stack(OTHER).create(
        CreateVpcRole="false", CreateCloudWatchLogsRole="true", PropagationDelaySeconds="0"
    )


def _act_create(world: World) -> dict[str, Any]:
    return world.stack(SUBJECT).create(
        CreateRedshiftRole="true",
        RestrictToSourceAccount="true",
        PermissionsBoundary=BOUNDARY_A,
        Tags=_tags(team="data"),
        PropagationDelaySeconds="5",
    )


# -- Update: release one role, create one, repair and re-tag a shared one --------------------


def _prepare_update(world: World) -> None:
    world.stack(OTHER).create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    world.stack(SUBJECT).create(
        PermissionsBoundary=BOUNDARY_A, Tags=_tags(team="a", owner="x"), PropagationDelaySeconds="0"
    )


def _act_update(world: World) -> dict[str, Any]:
    return world.stack(SUBJECT).update(
        CreateCloudWatchLogsRole="false",
        CreateRedshiftRole="true",
        RestrictToSourceAccount="true",
        Tags=_tags(team="b"),
        PropagationDelaySeconds="0",
    )


# -- Delete as the last claimant: two roles deleted, an adopted one left as found -------------


def _prepare_delete_last(world: World) -> None:
    make_console_role(world.iam, REDSHIFT_ROLE, owners_policies=True, tag_count=1)
    world.stack(SUBJECT).create(
        CreateRedshiftRole="true", Tags=_tags(team="a"), PropagationDelaySeconds="0"
    )


# -- Delete beside another stack, and of a role somebody else started to use -------------------


def _prepare_delete_shared(world: World) -> None:
    world.stack(SUBJECT).create(PropagationDelaySeconds="0")
    world.stack(OTHER).create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    add_owners_policy(world.iam, CLOUDWATCH_LOGS_ROLE.name)


def _act_delete(world: World) -> dict[str, Any]:
    return world.stack(SUBJECT).delete()


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("create-made-joined-adopted", "Create", _prepare_create, _act_create),
    Scenario("update-release-create-repair", "Update", _prepare_update, _act_update),
    Scenario("delete-as-last-claimant", "Delete", _prepare_delete_last, _act_delete),
    Scenario("delete-shared-and-kept", "Delete", _prepare_delete_shared, _act_delete),
)
