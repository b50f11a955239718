"""ResourceProperties: their definitions, and parsing them once into a typed object.

CloudFormation sends every value as a string ("true", "10"); JSON booleans and
numbers are accepted too. Unknown keys are rejected by name. Each property is
one :class:`Property` row (name, type, default, parser, docs); :data:`DEFINITIONS`
lists them, and the dataclass defaults, :func:`parse_properties`, the README and
docs/reference.md all read them from there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from .catalogue import ROLES, RoleSpec
from .errors import InvalidRequest
from .ownership import (
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MAX_USER_TAGS,
    RESERVED_PREFIXES,
    find_key,
)
from .ownership import TAG_PREFIX as TAG_PREFIX  # COMPAT(remove before commit)

#: Keys CloudFormation itself puts in ResourceProperties.
IGNORED = ("ServiceToken", "ServiceTimeout")
MAX_DELAY_SECONDS = 300
_TAG_PUNCTUATION = set("_.:/=+-@")
_BOUNDARY_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,1024}$")

T = TypeVar("T")


class ExistingRolePolicy(StrEnum):
    ADOPT = "Adopt"
    FAIL = "Fail"


@dataclass(frozen=True)
class Property(Generic[T]):
    """One property: its name, type, default, parser and documentation, all in one row."""

    name: str
    #: The CloudFormation type, for the docs.
    type: str
    default: T
    #: ``parse(name, value, partition)``: the typed value, or InvalidRequest naming ``name``.
    parse: Callable[[str, object, str], T]
    allowed: str
    description: str
    #: The :class:`Properties` field it fills; None for a role switch (``enabled_roles``).
    field: str | None = None
    role: RoleSpec | None = None
    update: str = "No interruption"

    @property
    def default_text(self) -> str:
        """The default as a stack author would write it."""
        value: object = self.default
        if isinstance(value, bool):
            return str(value).lower()
        if value is None or value == ():
            return "(none)"
        return str(value)


def parse_bool(name: str, value: object, partition: str = "") -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidRequest(f"Property {name} must be true or false, got {_show(value)}.")


def parse_delay(name: str, value: object, partition: str = "") -> int:
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


def parse_policy(name: str, value: object, partition: str = "") -> ExistingRolePolicy:
    if isinstance(value, str):
        for option in ExistingRolePolicy:
            if value.strip().lower() == option.value.lower():
                return option
    raise InvalidRequest(f"Property {name} must be Adopt or Fail, got {_show(value)}.")


def parse_boundary(name: str, value: object, partition: str) -> str | None:
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


def parse_tags(name: str, value: object, partition: str = "") -> tuple[tuple[str, str], ...]:
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
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH or not _tag_text_ok(key):
            raise InvalidRequest(
                f"Property {where}.Key must be 1-{MAX_TAG_KEY_LENGTH} letters, digits, spaces "
                f"or _.:/=+-@, got {_show(key)}."
            )
        if len(val) > MAX_TAG_VALUE_LENGTH or not _tag_text_ok(val):
            raise InvalidRequest(
                f"Property {where}.Value must be at most {MAX_TAG_VALUE_LENGTH} letters, digits, "
                f"spaces or _.:/=+-@, got {_show(val)}."
            )
        if any(key.lower().startswith(prefix) for prefix in RESERVED_PREFIXES):
            raise InvalidRequest(
                f"Property {where}.Key {_show(key)} uses a reserved prefix "
                f"({' or '.join(RESERVED_PREFIXES)})."
            )
        if find_key(tags, key) is not None:
            raise InvalidRequest(f"Property {name} names the key {_show(key)} twice.")
        tags[key] = val
    return tuple(tags.items())


def _role_switch(role: RoleSpec) -> Property[bool]:
    return Property(
        name=role.enable_property,
        type="Boolean",
        default=role.enabled_by_default,
        parse=parse_bool,
        allowed="true | false",
        description=f"Manage `{role.name}`, which {role.purpose}. "
        "Setting it to false on Update releases this resource's claim on the role.",
        role=role,
    )


EXISTING_ROLE_POLICY: Property[ExistingRolePolicy] = Property(
    name="ExistingRolePolicy",
    type="String",
    default=ExistingRolePolicy.ADOPT,
    parse=parse_policy,
    allowed=" | ".join(option.value for option in ExistingRolePolicy),
    description="What to do when a role of that name exists that this project did not "
    "create. `Adopt` checks its trust policy, claims it and attaches the managed policy "
    "if missing; it is never deleted. `Fail` answers FAILED instead.",
    field="existing_role_policy",
)
PERMISSIONS_BOUNDARY: Property[str | None] = Property(
    name="PermissionsBoundary",
    type="String",
    default=None,
    parse=parse_boundary,
    allowed="an IAM managed policy ARN in the stack's partition",
    description="Permissions boundary set on every role this project creates. Changing "
    "or removing it on Update changes those roles.",
    field="permissions_boundary",
)
TAGS: Property[tuple[tuple[str, str], ...]] = Property(
    name="Tags",
    type="List of {Key, Value}",
    default=(),
    parse=parse_tags,
    allowed=f"at most {MAX_USER_TAGS} tags; keys 1-{MAX_TAG_KEY_LENGTH} and values "
    f"0-{MAX_TAG_VALUE_LENGTH} characters (letters, digits, spaces, `_.:/=+-@`); not "
    + " or ".join(f"`{prefix}`" for prefix in RESERVED_PREFIXES),
    description="Tags set on every role this project creates. Keys removed on Update "
    "are removed from those roles.",
    field="tags",
)
PROPAGATION_DELAY: Property[int] = Property(
    name="PropagationDelaySeconds",
    type="Integer",
    default=10,
    parse=parse_delay,
    allowed=f"0-{MAX_DELAY_SECONDS}",
    description="After a role is created or its trust policy changes, wait this long "
    "before answering, so that DMS can assume it (IAM is eventually consistent). Never "
    "waited on no-op updates or deletes; capped by the time the invocation has left.",
    field="propagation_delay_seconds",
)
RESTRICT_TO_SOURCE_ACCOUNT: Property[bool] = Property(
    name="RestrictToSourceAccount",
    type="Boolean",
    default=False,
    parse=parse_bool,
    allowed="true | false",
    description="Add an `aws:SourceAccount` condition (this account) to the trust "
    "policies of the roles this project creates.",
    field="restrict_to_source_account",
)

#: Every property, in the order the docs list them: the single source of the properties.
DEFINITIONS: tuple[Property[Any], ...] = (
    *(_role_switch(role) for role in ROLES),
    EXISTING_ROLE_POLICY,
    PERMISSIONS_BOUNDARY,
    TAGS,
    PROPAGATION_DELAY,
    RESTRICT_TO_SOURCE_ACCOUNT,
)
PROPERTY_NAMES: tuple[str, ...] = tuple(d.name for d in DEFINITIONS)
PropertyDefinition = Property  # COMPAT(remove before commit)


@dataclass(frozen=True)
class Properties:
    """ResourceProperties, validated and typed; each default comes from its row above."""

    enabled_roles: frozenset[str] = frozenset(r.name for r in ROLES if r.enabled_by_default)
    existing_role_policy: ExistingRolePolicy = EXISTING_ROLE_POLICY.default
    permissions_boundary: str | None = PERMISSIONS_BOUNDARY.default
    tags: tuple[tuple[str, str], ...] = TAGS.default
    propagation_delay_seconds: int = PROPAGATION_DELAY.default
    restrict_to_source_account: bool = RESTRICT_TO_SOURCE_ACCOUNT.default

    def enables(self, role: RoleSpec) -> bool:
        return role.name in self.enabled_roles

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)


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
    enabled: set[str] = set()
    fields: dict[str, Any] = {}
    for definition in DEFINITIONS:
        value = (
            definition.parse(definition.name, raw[definition.name], partition)
            if definition.name in raw
            else definition.default
        )
        if definition.role is not None:
            if value:
                enabled.add(definition.role.name)
        elif definition.field is not None:
            fields[definition.field] = value
    return Properties(enabled_roles=frozenset(enabled), **fields)


def _show(value: object) -> str:
    """A value quoted for a reason, kept short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"
