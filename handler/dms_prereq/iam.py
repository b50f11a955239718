"""The IAM calls this project makes, each translated once into domain errors.

Functions take the boto3 IAM client; they never create one. Throttling,
ServiceFailure (HTTP 500) and connection errors are retried by botocore's
standard retry mode (see :func:`client_config`); what reaches these functions
is final.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import AwsError, NotFound, translate
from .ownership import CLAIM_KEY_PREFIX as CLAIM_KEY_PREFIX  # COMPAT(remove before commit)
from .ownership import MAX_TAGS_PER_ROLE as MAX_TAGS_PER_ROLE  # COMPAT(remove before commit)
from .ownership import ORIGIN_KEY as ORIGIN_KEY  # COMPAT(remove before commit)
from .ownership import Origin, Ownership
from .ownership import claim_key as claim_key  # COMPAT(remove before commit)

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient as IAMClient
else:
    IAMClient: TypeAlias = Any


def client_config() -> Config:
    """Standard retry mode: backs off on Throttling, 5xx and connection errors."""
    return Config(
        retries={"mode": "standard", "max_attempts": 8},
        connect_timeout=5,
        read_timeout=20,
    )


@dataclass(frozen=True)
class RoleState:
    """A role as GetRole reports it: raw tags (their meaning is :mod:`dms_prereq.ownership`'s).

    ``arn`` is what GetRole said, which just after CreateRole may be the role's
    unique id instead (terraform-provider-aws #22018): build ARNs with
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

    # COMPAT(remove before commit): the CLI reads these until it uses Ownership.
    @property
    def origin(self) -> Origin | None:
        return Ownership.of(self.tags).origin

    @property
    def claims(self) -> dict[str, str]:
        return dict(Ownership.of(self.tags).claims)


@contextmanager
def _translated(action: str, target: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise translate(error, action, target) from error


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
        with _translated("GetRole", name):
            role = iam.get_role(RoleName=name)["Role"]
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
) -> str:
    """CreateRole at path /; returns the ARN. Raises AlreadyExists."""
    extra: dict[str, Any] = {"PermissionsBoundary": boundary} if boundary else {}
    with _translated("CreateRole", name):
        response = iam.create_role(
            RoleName=name,
            Path="/",
            AssumeRolePolicyDocument=json.dumps(trust),
            Description=description,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            **extra,
        )
    return str(response["Role"]["Arn"])


def tag_role(iam: IAMClient, name: str, tags: dict[str, str]) -> None:
    if tags:
        with _translated("TagRole", name):
            iam.tag_role(RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def untag_role(iam: IAMClient, name: str, keys: list[str]) -> None:
    if keys:
        with _translated("UntagRole", name):
            iam.untag_role(RoleName=name, TagKeys=keys)


def attach_policy(iam: IAMClient, name: str, policy_arn: str) -> None:
    """AttachRolePolicy; IAM treats attaching an attached policy as success.

    NoSuchEntity means the role is gone (NotFound) unless it names the policy.
    """
    try:
        with _translated("AttachRolePolicy", name):
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    except NotFound as missing:
        if policy_arn in str(missing.__cause__):
            raise AwsError(
                f"The managed policy {policy_arn} does not exist in this partition, so "
                f"{name} cannot get it."
            ) from missing
        raise


def detach_policy(iam: IAMClient, name: str, policy_arn: str) -> bool:
    """DetachRolePolicy; False when it was not attached."""
    try:
        with _translated("DetachRolePolicy", name):
            iam.detach_role_policy(RoleName=name, PolicyArn=policy_arn)
    except NotFound:
        return False
    return True


def update_trust(iam: IAMClient, name: str, trust: dict[str, Any]) -> None:
    with _translated("UpdateAssumeRolePolicy", name):
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))


def put_boundary(iam: IAMClient, name: str, boundary: str) -> None:
    with _translated("PutRolePermissionsBoundary", name):
        iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary)


def delete_boundary(iam: IAMClient, name: str) -> None:
    with _translated("DeleteRolePermissionsBoundary", name):
        iam.delete_role_permissions_boundary(RoleName=name)


def delete_role(iam: IAMClient, name: str) -> None:
    """DeleteRole. Raises DeleteConflict while anything is attached; NotFound if gone."""
    with _translated("DeleteRole", name):
        iam.delete_role(RoleName=name)


def describe_blockers(iam: IAMClient, name: str) -> list[str]:
    """What keeps a role from being deleted: attached and inline policies, instance profiles."""
    listings: list[tuple[str, Callable[[], list[str]]]] = [
        (
            "ListAttachedRolePolicies",
            lambda: [
                f"attached policy {p['PolicyArn']}"
                for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            ],
        ),
        (
            "ListRolePolicies",
            lambda: [
                f"inline policy {p}" for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
            ],
        ),
        (
            "ListInstanceProfilesForRole",
            lambda: [
                f"instance profile {p['InstanceProfileName']}"
                for p in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
            ],
        ),
    ]
    found: list[str] = []
    for action, listing in listings:
        with _translated(action, name):
            found.extend(listing())
    return found
