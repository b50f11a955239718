"""The state of the DMS roles as IAM reports it, for assertions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dms_prereq.iam import CLAIM_KEY_PREFIX, ORIGIN_KEY


@dataclass(frozen=True)
class RoleView:
    name: str
    arn: str
    origin: str | None
    claims: frozenset[str]
    attached: frozenset[str]
    inline: frozenset[str]
    trust: dict[str, Any]
    tags: dict[str, str]
    boundary: str | None


def view(iam: Any, name: str) -> RoleView | None:
    """The role as IAM reports it now, or None when it does not exist."""
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    return RoleView(
        name=name,
        arn=role["Arn"],
        origin=tags.get(ORIGIN_KEY),
        claims=frozenset(v for k, v in tags.items() if k.startswith(CLAIM_KEY_PREFIX)),
        attached=frozenset(p["PolicyArn"].rsplit("/", 1)[-1] for p in attached),
        inline=frozenset(iam.list_role_policies(RoleName=name)["PolicyNames"]),
        trust=role["AssumeRolePolicyDocument"],
        tags=tags,
        boundary=role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
    )


def claimants(iam: Any, name: str) -> set[str]:
    """Names of the stacks holding a claim on the role (empty when it is absent)."""
    role = view(iam, name)
    return {c.split("/")[1] for c in role.claims} if role else set()
