"""Reading trust policies: who may assume a role, and whether two policies say the same."""

from __future__ import annotations

import fnmatch
import json
from typing import Any


def as_list(value: object) -> list[Any]:
    """A policy field that may be one value or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements (one or a list), skipping anything malformed."""
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


ASSUME_ROLE = "sts:AssumeRole"


def _matches(pattern: str, value: str) -> bool:
    """IAM's action matching: case-insensitive, ``*`` and ``?`` wildcards."""
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _applies_to_action(statement: dict[str, Any]) -> bool:
    if "NotAction" in statement:
        return not any(_matches(str(a), ASSUME_ROLE) for a in as_list(statement["NotAction"]))
    return any(_matches(str(a), ASSUME_ROLE) for a in as_list(statement.get("Action")))


def _names(principal: object, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return service in as_list(principal.get("Service")) or "*" in as_list(principal.get("AWS"))


def _applies_to_principal(statement: dict[str, Any], service: str) -> bool:
    if "NotPrincipal" in statement:
        return not _names(statement["NotPrincipal"], service)
    return _names(statement.get("Principal"), service)


def allows_service(document: dict[str, Any], service: str) -> bool:
    """Whether the trust policy lets ``service`` call sts:AssumeRole, as IAM evaluates it.

    An applicable Allow and no applicable unconditional Deny ("Policy evaluation
    logic", IAM user guide: an explicit deny overrides any allow). A statement
    applies when its Action or NotAction covers sts:AssumeRole (wildcards and
    case as IAM matches actions) and its Principal or NotPrincipal covers the
    service. Conditions on an Allow narrow it without forbidding the service; a
    conditional Deny is commonly the confused-deputy guard (deny unless
    aws:SourceAccount is ours), so it does not count against the role.
    """
    allowed = False
    for statement in statements(document):
        if not _applies_to_action(statement) or not _applies_to_principal(statement, service):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny" and not statement.get("Condition"):
            return False
        if effect == "allow":
            allowed = True
    return allowed


def _canonical_statement(statement: dict[str, Any]) -> str:
    canonical = dict(statement)
    canonical.pop("Sid", None)
    canonical["Action"] = sorted(str(a) for a in as_list(statement.get("Action")))
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        canonical["Principal"] = {k: sorted(as_list(v)) for k, v in principal.items()}
    return json.dumps(canonical, sort_keys=True)


def same_policy(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal up to ordering, single values versus one-element lists, and Sids."""
    return a.get("Version") == b.get("Version") and sorted(
        _canonical_statement(s) for s in statements(a)
    ) == sorted(_canonical_statement(s) for s in statements(b))
