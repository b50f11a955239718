"""The DMS roles (or any role) as IAM reports them, for assertions.

:func:`view` reads a role in three calls (GetRole carries its tags and trust
policy), cheap enough to check after every step; ``full=True`` also reads each
inline policy's document and the instance profiles, for "nothing changed"
comparisons of :func:`snapshot`, the whole account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dms_prereq.ownership import ORIGIN_KEY, Ownership


@dataclass(frozen=True)
class RoleView:
    """One role: everything about it this project could change."""

    name: str
    arn: str
    trust: dict[str, Any]
    tags: dict[str, str]
    #: ARNs of the managed policies attached to it.
    policy_arns: frozenset[str]
    #: Names of its inline policies.
    inline: frozenset[str]
    boundary: str | None
    #: Read with ``full=True`` only, else None: each inline policy's document, by name,
    #: and the instance profiles that hold the role.
    inline_documents: dict[str, Any] | None = None
    instance_profiles: frozenset[str] | None = None

    @property
    def origin(self) -> str | None:
        """The origin mark, as the tag holds it (None when the role has none)."""
        return self.tags.get(ORIGIN_KEY)

    @property
    def claims(self) -> frozenset[str]:
        """The claim tags' values: the StackId of each claiming resource (version 1 wrote
        ``<StackId> <LogicalResourceId>``)."""
        return frozenset(Ownership.of(self.tags).claims.values())

    @property
    def claimants(self) -> set[str]:
        """Names of the stacks holding a claim on the role."""
        return {claim.split("/")[1] for claim in self.claims}

    @property
    def attached(self) -> frozenset[str]:
        """Names of the managed policies attached to it."""
        return frozenset(arn.rsplit("/", 1)[-1] for arn in self.policy_arns)


def view(iam: Any, name: str, *, full: bool = False) -> RoleView | None:
    """The role as IAM reports it now, or None when it does not exist."""
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    documents = profiles = None
    if full:
        documents = {
            policy: iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            for policy in inline
        }
        found = iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
        profiles = frozenset(p["InstanceProfileName"] for p in found)
    return RoleView(
        name=name,
        arn=role["Arn"],
        trust=role["AssumeRolePolicyDocument"],
        tags={t["Key"]: t["Value"] for t in role.get("Tags", [])},
        policy_arns=frozenset(p["PolicyArn"] for p in attached),
        inline=frozenset(inline),
        boundary=role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
        inline_documents=documents,
        instance_profiles=profiles,
    )


def claimants(iam: Any, name: str) -> set[str]:
    """Names of the stacks holding a claim on the role (empty when it is absent)."""
    role = view(iam, name)
    return role.claimants if role else set()


def snapshot(iam: Any) -> dict[str, RoleView]:
    """Every role in the account, read in full, by name."""
    names = [r["RoleName"] for r in iam.list_roles(MaxItems=1000)["Roles"]]
    found = {name: view(iam, name, full=True) for name in names}
    return {name: role for name, role in found.items() if role is not None}
