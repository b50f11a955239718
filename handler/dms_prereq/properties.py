"""ResourceProperties: their definitions, and parsing them once into a typed object.

CloudFormation sends every value as a string ("true", "10"); JSON booleans and
numbers are accepted too. Unknown keys are rejected by name. The table
:data:`DEFINITIONS` is the single source for the README and docs/reference.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .catalogue import ROLES, RoleSpec
from .errors import InvalidRequest

#: Prefix of the tag keys this project writes; user Tags may not use it.
TAG_PREFIX = "dms-prerequisite-roles:"
#: Keys CloudFormation itself puts in ResourceProperties.
IGNORED = ("ServiceToken", "ServiceTimeout")
MAX_DELAY_SECONDS = 300
DEFAULT_DELAY_SECONDS = 10
#: IAM's per-role tag limit, less the origin mark and one claim.
MAX_USER_TAGS = 48
_TAG_PUNCTUATION = set("_.:/=+-@")
_BOUNDARY_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,1024}$")


class ExistingRolePolicy(StrEnum):
    ADOPT = "Adopt"
    FAIL = "Fail"


@dataclass(frozen=True)
class PropertyDefinition:
    name: str
    type: str
    default: str
    allowed: str
    description: str
    update: str = "No interruption"


DEFINITIONS: tuple[PropertyDefinition, ...] = (
    *(
        PropertyDefinition(
            name=role.enable_property,
            type="Boolean",
            default=str(role.enabled_by_default).lower(),
            allowed="true | false",
            description=f"Manage `{role.name}`, which {role.purpose}. "
            "Setting it to false on Update releases this resource's claim on the role.",
        )
        for role in ROLES
    ),
    PropertyDefinition(
        name="ExistingRolePolicy",
        type="String",
        default=ExistingRolePolicy.ADOPT.value,
        allowed="Adopt | Fail",
        description="What to do when a role of that name exists that this project did not "
        "create. `Adopt` checks its trust policy, claims it and attaches the managed policy "
        "if missing; it is never deleted. `Fail` answers FAILED instead.",
    ),
    PropertyDefinition(
        name="PermissionsBoundary",
        type="String",
        default="(none)",
        allowed="an IAM managed policy ARN in the stack's partition",
        description="Permissions boundary set on every role this project creates. Changing "
        "or removing it on Update changes those roles.",
    ),
    PropertyDefinition(
        name="Tags",
        type="List of {Key, Value}",
        default="(none)",
        allowed=f"at most {MAX_USER_TAGS} tags; keys 1-128 and values 0-256 characters "
        f"(letters, digits, spaces, `_.:/=+-@`); not `aws:` or `{TAG_PREFIX}`",
        description="Tags set on every role this project creates. Keys removed on Update "
        "are removed from those roles.",
    ),
    PropertyDefinition(
        name="PropagationDelaySeconds",
        type="Integer",
        default=str(DEFAULT_DELAY_SECONDS),
        allowed=f"0-{MAX_DELAY_SECONDS}",
        description="After a role is created or its trust policy changes, wait this long "
        "before answering, so that DMS can assume it (IAM is eventually consistent). Never "
        "waited on no-op updates or deletes; capped by the time the invocation has left.",
    ),
    PropertyDefinition(
        name="RestrictToSourceAccount",
        type="Boolean",
        default="false",
        allowed="true | false",
        description="Add an `aws:SourceAccount` condition (this account) to the trust "
        "policies of the roles this project creates.",
    ),
)
PROPERTY_NAMES: tuple[str, ...] = tuple(d.name for d in DEFINITIONS)


@dataclass(frozen=True)
class Properties:
    """ResourceProperties, validated and typed."""

    enabled_roles: frozenset[str] = frozenset(r.name for r in ROLES if r.enabled_by_default)
    existing_role_policy: ExistingRolePolicy = ExistingRolePolicy.ADOPT
    permissions_boundary: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    propagation_delay_seconds: int = DEFAULT_DELAY_SECONDS
    restrict_to_source_account: bool = False

    def enables(self, role: RoleSpec) -> bool:
        return role.name in self.enabled_roles

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)


def parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidRequest(f"Property {name} must be true or false, got {_show(value)}.")


def parse_delay(name: str, value: object) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{1,4}\s*", value):
        number = int(value)
    if number is None or not 0 <= number <= MAX_DELAY_SECONDS:
        raise InvalidRequest(
            f"Property {name} must be a whole number of seconds from 0 to "
            f"{MAX_DELAY_SECONDS}, got {_show(value)}."
        )
    return number


def parse_policy(name: str, value: object) -> ExistingRolePolicy:
    if isinstance(value, str):
        for option in ExistingRolePolicy:
            if value.strip().lower() == option.value.lower():
                return option
    raise InvalidRequest(f"Property {name} must be Adopt or Fail, got {_show(value)}.")


def parse_boundary(name: str, value: object, partition: str) -> str:
    match = _BOUNDARY_ARN.match(value) if isinstance(value, str) else None
    if not match:
        raise InvalidRequest(
            f"Property {name} must be an IAM managed policy ARN "
            f"(arn:{partition}:iam::<account>:policy/<name>), got {_show(value)}."
        )
    if match.group(1) != partition:
        raise InvalidRequest(
            f"Property {name} is in partition {match.group(1)} but the stack is in "
            f"{partition}; use arn:{partition}:iam::… ."
        )
    return str(value)


def _tag_text_ok(text: str) -> bool:
    return all(ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN" for ch in text)


def parse_tags(name: str, value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise InvalidRequest(f"Property {name} must be a list of {{Key, Value}} objects.")
    if len(value) > MAX_USER_TAGS:
        raise InvalidRequest(
            f"Property {name} has {len(value)} tags; at most {MAX_USER_TAGS} fit beside "
            "the tags this project keeps on each role."
        )
    tags: dict[str, str] = {}
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(item, dict) or set(item) != {"Key", "Value"}:
            raise InvalidRequest(f"Property {where} must be an object with exactly Key and Value.")
        key, val = item["Key"], item["Value"]
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            val = str(val)
        if not isinstance(key, str) or not isinstance(val, str):
            raise InvalidRequest(f"Property {where} must have a string Key and Value.")
        if not 1 <= len(key) <= 128 or not _tag_text_ok(key):
            raise InvalidRequest(
                f"Property {where}.Key must be 1-128 letters, digits, spaces or _.:/=+-@, "
                f"got {_show(key)}."
            )
        if len(val) > 256 or not _tag_text_ok(val):
            raise InvalidRequest(
                f"Property {where}.Value must be at most 256 letters, digits, spaces or "
                f"_.:/=+-@, got {_show(val)}."
            )
        lowered = key.lower()
        if lowered.startswith("aws:") or lowered.startswith(TAG_PREFIX):
            raise InvalidRequest(
                f"Property {where}.Key {_show(key)} uses a reserved prefix (aws: or {TAG_PREFIX})."
            )
        if any(existing.lower() == lowered for existing in tags):
            raise InvalidRequest(f"Property {name} names the key {_show(key)} twice.")
        tags[key] = val
    return tuple(tags.items())


def parse_properties(raw: object, partition: str) -> Properties:
    """Validate ResourceProperties; raise InvalidRequest naming the property."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidRequest("ResourceProperties must be an object of property names to values.")
    unknown = sorted(str(k) for k in raw if k not in PROPERTY_NAMES and k not in IGNORED)
    if unknown:
        raise InvalidRequest(
            f"Unknown property {', '.join(_show(k) for k in unknown)}; valid properties are "
            f"{', '.join(PROPERTY_NAMES)}."
        )
    enabled = {
        role.name
        for role in ROLES
        if parse_bool(role.enable_property, raw.get(role.enable_property, role.enabled_by_default))
    }
    # Property name -> (Properties field, parser); absent ones keep the field's default.
    parsers: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
        "ExistingRolePolicy": ("existing_role_policy", parse_policy),
        "PermissionsBoundary": (
            "permissions_boundary",
            lambda n, v: parse_boundary(n, v, partition),
        ),
        "Tags": ("tags", parse_tags),
        "PropagationDelaySeconds": ("propagation_delay_seconds", parse_delay),
        "RestrictToSourceAccount": ("restrict_to_source_account", parse_bool),
    }
    values = {
        attribute: parse(name, raw[name])
        for name, (attribute, parse) in parsers.items()
        if name in raw
    }
    return Properties(enabled_roles=frozenset(enabled), **values)


def _show(value: object) -> str:
    """A value quoted for a reason, kept short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"
