"""Reading trust policies: who may assume a role, and whether two policies say the same."""

from __future__ import annotations

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


def _covers_assume_role(statement: dict[str, Any]) -> bool:
    actions = [str(a).lower() for a in as_list(statement.get("Action"))]
    return any(a in ("sts:assumerole", "sts:*", "*") for a in actions)


def _names_principal(statement: dict[str, Any], service: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return service in as_list(principal.get("Service")) or "*" in as_list(principal.get("AWS"))


def allows_service(document: dict[str, Any], service: str) -> bool:
    """Whether the trust policy lets ``service`` call sts:AssumeRole.

    An Allow naming the service (conditions permitted: they narrow, they do not
    forbid) and no unconditional Deny naming it.
    """
    allowed = False
    for statement in statements(document):
        if not _covers_assume_role(statement) or not _names_principal(statement, service):
            continue
        effect = statement.get("Effect")
        if effect == "Deny" and not statement.get("Condition"):
            return False
        if effect == "Allow":
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
