"""ResourceProperties: their definitions, and parsing them once into a typed object.

CloudFormation sends every value as a string ("true", "10"); JSON booleans and
numbers are accepted too. Unknown keys are rejected by name. Each property is
one :class:`Property` row (name, type, default, parser, docs); :data:`DEFINITIONS`
lists them, and the dataclass defaults, :func:`parse_properties`, the README and
docs/reference.md all read them from there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from .catalogue import ROLES, RoleSpec
from .errors import MAX_REASON, InvalidRequest, quoted
from .settings import MOVED_PROPERTIES

#: Keys CloudFormation itself puts in ResourceProperties.
IGNORED = ("ServiceToken", "ServiceTimeout")
MAX_DELAY_SECONDS = 300

log = logging.getLogger(__name__)

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
    #: ``parse(name, value)``: the typed value, or InvalidRequest naming ``name``.
    parse: Callable[[str, object], T]
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


def parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidRequest(f"Property {name} must be true or false, got {quoted(value)}.")


def parse_delay(name: str, value: object) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)  # a JSON number such as 10.0
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{1,4}(\.0*)?\s*", value):
        number = int(float(value))
    if number is None or not 0 <= number <= MAX_DELAY_SECONDS:
        raise InvalidRequest(
            f"Property {name} must be a whole number of seconds from 0 to "
            f"{MAX_DELAY_SECONDS}, got {quoted(value)}."
        )
    return number


def parse_policy(name: str, value: object) -> ExistingRolePolicy:
    if isinstance(value, str):
        for option in ExistingRolePolicy:
            if value.strip().lower() == option.value.lower():
                return option
    raise InvalidRequest(f"Property {name} must be Adopt or Fail, got {quoted(value)}.")


def _role_switch(role: RoleSpec) -> Property[bool]:
    return Property(
        name=role.enable_property,
        type="Boolean",
        default=role.enabled_by_default,
        parse=parse_bool,
        allowed="true | false",
        description=f"Manage `{role.name}`, which {role.purpose}. "
        "Setting it to false on Update empties its attribute; this resource keeps its claim "
        "on the role until the resource is deleted (Updates only add claims).",
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
#: Every property, in the order the docs list them: the single source of the properties.
DEFINITIONS: tuple[Property[Any], ...] = (
    *(_role_switch(role) for role in ROLES),
    EXISTING_ROLE_POLICY,
    PROPAGATION_DELAY,
)
PROPERTY_NAMES: tuple[str, ...] = tuple(d.name for d in DEFINITIONS)


@dataclass(frozen=True)
class Properties:
    """ResourceProperties, validated and typed; each default comes from its row above."""

    enabled_roles: frozenset[str] = frozenset(r.name for r in ROLES if r.enabled_by_default)
    existing_role_policy: ExistingRolePolicy = EXISTING_ROLE_POLICY.default
    propagation_delay_seconds: int = PROPAGATION_DELAY.default

    def enables(self, role: RoleSpec) -> bool:
        return role.name in self.enabled_roles


def parse_properties(raw: object, *, refuse_moved: bool = True) -> Properties:
    """Validate ResourceProperties; raise InvalidRequest naming the property.

    A property that moved to the deployment (:data:`~dms_prereq.settings.MOVED_PROPERTIES`)
    fails a Create (``refuse_moved``) naming the parameter that now holds it; an
    Update ignores it with a warning, so that no rollback ever fails over it.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidRequest("ResourceProperties must be an object of property names to values.")
    moved = sorted(str(k) for k in raw if k in MOVED_PROPERTIES)
    if moved and refuse_moved:
        # One sentence for all of them, short enough that every parameter is named.
        parameters = ", ".join(MOVED_PROPERTIES[name] for name in moved)
        one = len(moved) == 1
        what = (
            f"Property {moved[0]} is now the {parameters} parameter"
            if one
            else f"Properties {', '.join(moved)} are now the {parameters} parameters"
        )
        raise InvalidRequest(
            f"{what} of the dms-prerequisite-roles deployment (shared roles hold "
            f"{'it' if one else 'them'} once); remove {'it' if one else 'them'} from this resource."
        )
    if moved:
        log.warning(
            "ignored properties that are now parameters of the deployment",
            extra={"properties": {name: MOVED_PROPERTIES[name] for name in moved}},
        )
    known = (*PROPERTY_NAMES, *IGNORED, *MOVED_PROPERTIES)
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise InvalidRequest(_unknown_reason(unknown))
    enabled: set[str] = set()
    fields: dict[str, Any] = {}
    for definition in DEFINITIONS:
        value = (
            definition.parse(definition.name, raw[definition.name])
            if definition.name in raw
            else definition.default
        )
        if definition.role is not None:
            if value:
                enabled.add(definition.role.name)
        elif definition.field is not None:
            fields[definition.field] = value
    return Properties(enabled_roles=frozenset(enabled), **fields)


def _unknown_reason(unknown: list[str]) -> str:
    """Names the unknown properties and lists the valid ones, whole, within MAX_REASON."""
    valid = f"; valid properties are {', '.join(PROPERTY_NAMES)}."
    names = ", ".join(quoted(name) for name in unknown)
    room = MAX_REASON - len(valid) - len("Unknown property ")
    if len(names) > room:
        names = names[: room - 1] + "…"
    return f"Unknown property {names}{valid}"
