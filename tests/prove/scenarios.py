"""Representative operations, each with the world it meets: the fault matrix and the
least-privilege check both replay them.

Requests (:data:`SCENARIOS`) reach every IAM call a CloudFormation request makes:
create (with the deployment's boundary, tags and trust condition), join (tag,
attach, trust repair), adopt, and release (one untag per role), plus the request
check's CloudFormation read. Sweeps (:data:`SWEEP_SCENARIOS`) reach the rest:
releasing claims of a stack that is gone, marking, asking DMS in two regions, the
two-phase deletion (detach, delete), asking EC2 for the enabled regions,
re-attaching a lost policy, and bringing roles to the boundary and tags of the
deployment (set and removed) after asking CloudFormation about a live stack.

``prepare`` builds the world as scenery (:meth:`~tests.prove.world.World.long_ago`:
no read lags behind it); ``act`` is the operation under test, with reads lagging.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, VPC_ROLE

from testkit import REGION
from testkit.console import add_owners_policy
from tests.prove.world import (
    BOUNDARY_A,
    BOUNDARY_B,
    DELTA,
    PARTITION,
    SWEEPING,
    SweepRun,
    World,
)

SUBJECT = "subject"
OTHER = "other"
#: Scenarios played to the end (answered SUCCESS, or sweeps that did what they are for)
#: in this session: their calls are in testkit.evidence.EVIDENCE.
PLAYED: set[str] = set()


@dataclass(frozen=True)
class Scenario:
    """``prepare`` builds the world (and the subject's earlier requests); ``act`` is the
    operation under test and returns CloudFormation's answer."""

    name: str
    operation: str
    prepare: Callable[[World], None]
    act: Callable[[World], dict[str, Any]]


# -- Create: one role made, one joined (created for another stack), one adopted ---------------


def _prepare_create(world: World) -> None:
    # The deployment's settings reach the roles this project creates, in the CreateRole.
    world.deploy(
        ROLE_PERMISSIONS_BOUNDARY=BOUNDARY_A,
        ROLE_TAGS="team=data",
        RESTRICT_TO_SOURCE_ACCOUNT="true",
    )
    world.console_role(REDSHIFT_ROLE, owners_policies=True, tag_count=1)
    world.stack(OTHER).create(
        CreateVpcRole="false", CreateCloudWatchLogsRole="true", PropagationDelaySeconds="0"
    )


def _act_create(world: World) -> dict[str, Any]:
    return world.stack(SUBJECT).create(CreateRedshiftRole="true", PropagationDelaySeconds="5")


# -- Update: add a role, keep one it no longer enables, repair a drifted trust policy ---------


def _prepare_update(world: World) -> None:
    world.stack(OTHER).create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    world.stack(SUBJECT).create(PropagationDelaySeconds="0")
    # Somebody edits the trust policy of a role this project created.
    drifted = VPC_ROLE.trust_policy(None)
    drifted["Statement"][0]["Principal"] = {"Service": ["dms.amazonaws.com", "ec2.amazonaws.com"]}
    world.iam.update_assume_role_policy(RoleName=VPC_ROLE.name, PolicyDocument=json.dumps(drifted))


def _act_update(world: World) -> dict[str, Any]:
    return world.stack(SUBJECT).update(
        CreateCloudWatchLogsRole="false", CreateRedshiftRole="true", PropagationDelaySeconds="0"
    )


# -- Delete as the last claimant: every claim removed, every role left for the sweep ----------


def _prepare_delete_last(world: World) -> None:
    world.console_role(REDSHIFT_ROLE, owners_policies=True, tag_count=1)
    world.stack(SUBJECT).create(CreateRedshiftRole="true", PropagationDelaySeconds="0")


# -- Delete beside another stack, and of a role somebody else started to use -------------------


def _prepare_delete_shared(world: World) -> None:
    world.stack(SUBJECT).create(PropagationDelaySeconds="0")
    world.stack(OTHER).create(CreateCloudWatchLogsRole="false", PropagationDelaySeconds="0")
    add_owners_policy(world.iam, CLOUDWATCH_LOGS_ROLE.name)


def _act_delete(world: World) -> dict[str, Any]:
    return world.stack(SUBJECT).delete()


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("create-made-joined-adopted", "Create", _prepare_create, _act_create),
    Scenario("update-adds-keeps-repairs", "Update", _prepare_update, _act_update),
    Scenario("delete-as-last-claimant", "Delete", _prepare_delete_last, _act_delete),
    Scenario("delete-shared-and-kept", "Delete", _prepare_delete_shared, _act_delete),
)


# -- the sweep ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepScenario:
    """``prepare`` builds the world; ``act`` runs one or more sweeps and returns them;
    ``done`` says what their summaries must show (what the scenario is there for)."""

    name: str
    prepare: Callable[[World], None]
    act: Callable[[World], list[SweepRun]]
    done: Callable[[list[dict[str, Any]]], bool]


def _prepare_gone(world: World) -> None:
    # Before it deletes, the sweep asks DMS in each region of DmsRegions.
    world.deploy(DMS_REGIONS=f"{REGION},eu-west-1", **SWEEPING)
    gone = world.stack("gone")
    gone.create(CreateRedshiftRole="true", PropagationDelaySeconds="0")
    # Deleted with its resource retained, or its Delete never verified: CloudFormation
    # has no such stack any more, and no request will ever release its claims.
    assert world.cfn_api is not None
    world.cfn_api.delete_stack(gone.stack_id)
    world.stacks.pop("gone")


def an_hour_later() -> None:
    """Sweeps are an hour apart: every read has caught up with the last one's writes."""
    time.sleep(DELTA)


def _act_twice(world: World) -> list[SweepRun]:
    # The first sweep releases the stale claims and marks the roles; with retention 0,
    # the second deletes them, in two phases with the settle time really waited.
    first = world.harness.sweep()
    an_hour_later()
    return [first, world.harness.sweep()]


def _prepare_drifted(world: World) -> None:
    world.stack("live").create(PropagationDelaySeconds="0")  # settled: CREATE_COMPLETE
    # Somebody detaches DMS's policy from a role a live stack claims.
    world.iam.detach_role_policy(
        RoleName=CLOUDWATCH_LOGS_ROLE.name,
        PolicyArn=CLOUDWATCH_LOGS_ROLE.managed_policy_arn(PARTITION),
    )
    # The platform team changes the account settings: a new boundary and a tag. DmsRegions
    # is left empty (every enabled region, from EC2); a sweep that deletes nothing asks
    # DMS nothing, so that costs one DescribeRegions.
    world.deploy(
        ROLE_PERMISSIONS_BOUNDARY=BOUNDARY_B, ROLE_TAGS="team=platform", DMS_REGIONS="", **SWEEPING
    )


def _act_settings(world: World) -> list[SweepRun]:
    first = world.harness.sweep()
    # ... and then takes the boundary and the tag away again.
    an_hour_later()
    world.deploy(ROLE_PERMISSIONS_BOUNDARY="none", ROLE_TAGS="")
    return [first, world.harness.sweep()]


def _released_marked_deleted(summaries: list[dict[str, Any]]) -> bool:
    first, second = summaries
    return bool(
        first["stale_claims_released"] == 3
        and first["roles_marked"] == 3
        and second["roles_deleted"] == 3
    )


def _reattached_set_and_removed(summaries: list[dict[str, Any]]) -> bool:
    first, second = summaries
    applied = [" ".join(changes) for changes in first["settings_applied"].values()]
    removed = [" ".join(changes) for changes in second["settings_applied"].values()]
    return bool(
        first["policies_reattached"] == 1
        and len(applied) == 2
        and all("boundary set" in a and "tags set" in a for a in applied)
        and len(removed) == 2
        and all("boundary removed" in r and "tags removed" in r for r in removed)
    )


SWEEP_SCENARIOS: tuple[SweepScenario, ...] = (
    SweepScenario(
        "sweep-releases-marks-deletes", _prepare_gone, _act_twice, _released_marked_deleted
    ),
    SweepScenario(
        "sweep-reattaches-and-applies-settings",
        _prepare_drifted,
        _act_settings,
        _reattached_set_and_removed,
    ),
)


def replay(world: World, scenario: Scenario) -> tuple[World, dict[str, Any]]:
    """A fresh world, the scenario prepared as scenery, then its act; the answer."""
    world = world.fresh()
    with world.long_ago():
        scenario.prepare(world)
    answer = scenario.act(world)
    if answer["Status"] == "SUCCESS":
        PLAYED.add(scenario.name)
    return world, answer


def replay_sweep(world: World, scenario: SweepScenario) -> tuple[World, list[SweepRun]]:
    """A fresh world, the scenario prepared as scenery, then its sweeps, which must have
    run without error and done what the scenario is there for."""
    world = world.fresh()
    with world.long_ago():
        scenario.prepare(world)
    runs = scenario.act(world)
    assert all(run.error is None for run in runs), [run.error for run in runs]
    summaries = [run.summary for run in runs]
    assert all(summaries), "a sweep wrote no summary line"
    assert scenario.done([s for s in summaries if s]), f"{scenario.name}: {summaries}"
    PLAYED.add(scenario.name)
    return world, runs
