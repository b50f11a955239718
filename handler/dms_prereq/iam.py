"""The IAM calls this project makes, each translated once into domain errors.

Functions take the boto3 IAM client; they never create one. Throttling,
ServiceFailure (HTTP 500) and connection errors are retried by botocore's
standard retry mode (see :func:`dms_prereq.clients.client_config`). IAM also answers writes with
409 ``ConcurrentModification`` or ``EntityTemporarilyUnmodifiable`` when
another write to the same entity is under way (IAM API reference, "Common
Errors"); botocore does not retry those codes, so :func:`_call` does, with
back-off. What reaches the caller is final.
"""

from __future__ import annotations

import json
import random
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError

from .errors import MissingPolicy, NotFound, Transient, translate

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient as IAMClient
else:
    IAMClient: TypeAlias = Any

T = TypeVar("T")

#: Tries of a write that IAM answers with a transient 409, and the longest pause between two.
TRANSIENT_TRIES = 8
MAX_PAUSE_SECONDS = 2.0
#: Where the pauses go; tests may count them instead of sleeping.
pause: Callable[[float], None] = time.sleep


def _call(action: str, target: str, call: Callable[[], T]) -> T:
    """Run one IAM call; retry transient 409s with jittered back-off; translate the rest."""
    for attempt in range(TRANSIENT_TRIES):
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            translated = translate(error, action, target)
            if not isinstance(translated, Transient) or attempt == TRANSIENT_TRIES - 1:
                raise translated from error
        pause(min(MAX_PAUSE_SECONDS, 0.1 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class RoleState:
    """A role as GetRole reports it: raw tags (their meaning is :mod:`dms_prereq.ownership`'s).

    ``arn`` is what GetRole said, which just after CreateRole may be the role's
    unique id instead (terraform-provider-aws #22018): attribute ARNs come from
    :meth:`dms_prereq.catalogue.RoleSpec.role_arn`, never from here.
    """

    name: str
    arn: str
    path: str
    created: datetime | None
    trust: dict[str, Any]
    tags: dict[str, str]
    boundary: str | None
    last_used: dict[str, Any]


def _policy_document(raw: object) -> dict[str, Any]:
    """boto3 decodes trust policies to dicts; other clients hand back URL-encoded JSON."""
    if isinstance(raw, dict):
        return raw
    text = str(raw)
    if text.startswith("%7B") or text.startswith("%7b"):
        text = urllib.parse.unquote(text)
    document = json.loads(text)
    return document if isinstance(document, dict) else {}


def get_role(iam: IAMClient, name: str) -> RoleState | None:
    """The role, or None when it does not exist."""
    try:
        role = _call("GetRole", name, lambda: iam.get_role(RoleName=name))["Role"]
    except NotFound:
        return None
    created = role.get("CreateDate")
    return RoleState(
        name=role["RoleName"],
        arn=role["Arn"],
        path=str(role.get("Path", "/")),
        created=created if isinstance(created, datetime) else None,
        trust=_policy_document(role.get("AssumeRolePolicyDocument", "{}")),
        tags={t["Key"]: t["Value"] for t in role.get("Tags", [])},
        boundary=role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        last_used=dict(role.get("RoleLastUsed", {})),
    )


def create_role(
    iam: IAMClient,
    name: str,
    trust: dict[str, Any],
    tags: dict[str, str],
    boundary: str | None,
    description: str,
) -> None:
    """CreateRole at path /, with its tags and boundary in the one call.

    Raises AlreadyExists, or MissingPolicy when the boundary does not exist.
    """
    extra: dict[str, Any] = {"PermissionsBoundary": boundary} if boundary else {}
    _call(
        "CreateRole",
        name,
        lambda: iam.create_role(
            RoleName=name,
            Path="/",
            AssumeRolePolicyDocument=json.dumps(trust),
            Description=description,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            **extra,
        ),
    )


def tag_role(iam: IAMClient, name: str, tags: dict[str, str]) -> None:
    if tags:
        listed = cast(Any, [{"Key": k, "Value": v} for k, v in tags.items()])
        _call("TagRole", name, lambda: iam.tag_role(RoleName=name, Tags=listed))


def untag_role(iam: IAMClient, name: str, keys: list[str]) -> None:
    """UntagRole; removing a key the role does not have is no error (IAM ignores it)."""
    if keys:
        _call("UntagRole", name, lambda: iam.untag_role(RoleName=name, TagKeys=keys))


def attach_policy(iam: IAMClient, name: str, policy_arn: str) -> None:
    """AttachRolePolicy; IAM treats attaching an attached policy as success.

    Raises NotFound when the role is gone, MissingPolicy when the policy is.
    """
    _call(
        "AttachRolePolicy",
        name,
        lambda: iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn),
    )


def update_trust(iam: IAMClient, name: str, trust: dict[str, Any]) -> None:
    document = json.dumps(trust)
    _call(
        "UpdateAssumeRolePolicy",
        name,
        lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument=document),
    )


def detach_policy(iam: IAMClient, name: str, policy_arn: str) -> bool:
    """DetachRolePolicy; False when it was not attached (or the role is gone)."""
    try:
        _call(
            "DetachRolePolicy",
            name,
            lambda: iam.detach_role_policy(RoleName=name, PolicyArn=policy_arn),
        )
    except (NotFound, MissingPolicy):
        return False
    return True


def delete_role(iam: IAMClient, name: str) -> None:
    """DeleteRole. Raises DeleteConflict while anything is attached; NotFound if gone."""
    _call("DeleteRole", name, lambda: iam.delete_role(RoleName=name))


def put_boundary(iam: IAMClient, name: str, boundary: str) -> None:
    _call(
        "PutRolePermissionsBoundary",
        name,
        lambda: iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary),
    )


def delete_boundary(iam: IAMClient, name: str) -> None:
    _call(
        "DeleteRolePermissionsBoundary",
        name,
        lambda: iam.delete_role_permissions_boundary(RoleName=name),
    )


def attached_policies(iam: IAMClient, name: str) -> list[str]:
    """ARNs of the managed policies attached to the role."""
    return _call(
        "ListAttachedRolePolicies",
        name,
        lambda: [
            str(policy["PolicyArn"])
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
            for policy in page["AttachedPolicies"]
        ],
    )


def other_holds(iam: IAMClient, name: str, own_policy: str) -> list[str]:
    """What besides ``own_policy`` is on the role: other managed and inline policies, and
    instance profiles. DeleteRole fails while any remains; the sweep keeps such a role."""
    found = [f"attached policy {arn}" for arn in attached_policies(iam, name) if arn != own_policy]
    found += _call(
        "ListRolePolicies",
        name,
        lambda: [
            f"inline policy {p}" for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ],
    )
    found += _call(
        "ListInstanceProfilesForRole",
        name,
        lambda: [
            f"instance profile {p['InstanceProfileName']}"
            for p in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
        ],
    )
    return found
