"""What people do to an account by hand, outside any stack: the roles this project meets.

* :func:`make_console_role`: a DMS role made before any stack, the way the DMS
  console or a colleague makes it, with the catalogue's trust policy
  (:meth:`~dms_prereq.catalogue.RoleSpec.trust_policy`) or a wrong one;
* :func:`add_owners_policy`: somebody starts to use a role for something
  else, so it is no longer this project's to delete;
* :func:`wipe_roles`: an account without roles again, between cases;
  :func:`wipe_account` also without the account's own managed policies (the
  permissions boundaries a deployment names).
"""

from __future__ import annotations

import json
from typing import Any

from dms_prereq.catalogue import RoleSpec

from testkit.views import RoleView, view

#: Written into every hand-made trust policy. The console's statement differs from
#: the one this project writes only by it, so a role whose trust policy the
#: function rewrote can be told from one it left alone.
CONSOLE_SID = "ConsoleMade"
#: The inline policy a role's owner put on it for their own reasons.
OWNERS_POLICY = "kept-by-its-owner"
#: A policy that grants next to nothing: the owner's inline policy, and any document a
#: test needs that must not matter.
DESCRIBE_LOGS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "logs:Describe*", "Resource": "*"}],
}
#: An AWS managed policy its owner attached beside DMS's.
OWNERS_MANAGED_POLICY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
PARTITION = "aws"


def console_trust(role: RoleSpec, principals: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A trust policy written by hand: the role's own principals, or ``principals``."""
    document = role.trust_policy(None)
    statement = document["Statement"][0]
    statement["Sid"] = CONSOLE_SID
    if principals is not None:
        statement["Principal"] = {"Service": list(principals)}
    return document


def make_console_role(
    iam: Any,
    role: RoleSpec,
    *,
    principals: tuple[str, ...] | None = None,
    with_managed_policy: bool = True,
    owners_policies: bool = False,
    tag_count: int = 0,
) -> RoleView:
    """The role, made by hand before any stack, as IAM then reports it.

    Its trust policy names the role's principals unless told ``principals``;
    ``with_managed_policy`` attaches DMS's managed policy, as the console does;
    ``owners_policies`` adds an inline and a managed policy of its owner's, and
    ``tag_count`` tags of theirs.
    """
    iam.create_role(
        RoleName=role.name,
        AssumeRolePolicyDocument=json.dumps(console_trust(role, principals)),
        Tags=[{"Key": f"owner-{i}", "Value": "console"} for i in range(tag_count)],
    )
    if with_managed_policy:
        iam.attach_role_policy(RoleName=role.name, PolicyArn=role.managed_policy_arn(PARTITION))
    if owners_policies:
        iam.attach_role_policy(RoleName=role.name, PolicyArn=OWNERS_MANAGED_POLICY)
        add_owners_policy(iam, role.name)
    made = view(iam, role.name)
    assert made is not None, f"{role.name} was not made"
    return made


def add_owners_policy(iam: Any, name: str) -> None:
    """Somebody puts an inline policy of their own on the role: it is theirs to keep."""
    iam.put_role_policy(
        RoleName=name, PolicyName=OWNERS_POLICY, PolicyDocument=json.dumps(DESCRIBE_LOGS_POLICY)
    )


def wipe_roles(iam: Any) -> None:
    """Delete every role in the account, with its policies (the suites make no instance
    profiles). Cheaper than a fresh moto, which loads ~1,000 managed policies again."""
    for role in iam.list_roles(MaxItems=1000)["Roles"]:
        name = role["RoleName"]
        for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)


def make_policy(iam: Any, name: str) -> str:
    """A customer managed policy of the account (a permissions boundary); returns its ARN."""
    made = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(DESCRIBE_LOGS_POLICY))
    return str(made["Policy"]["Arn"])


def wipe_account(iam: Any) -> None:
    """:func:`wipe_roles`, then every managed policy the account made itself (Scope=Local)."""
    wipe_roles(iam)
    for policy in iam.list_policies(Scope="Local", MaxItems=1000)["Policies"]:
        arn = policy["Arn"]
        for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        iam.delete_policy(PolicyArn=arn)
