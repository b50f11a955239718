"""Account settings: what a shared role can hold only once, set by the deployment, not a stack.

A role is one per account, so its permissions boundary, its tags and the
``aws:SourceAccount`` condition of its trust policy cannot belong to any one
consumer stack: otherwise any stack could change the role under its
neighbours (a ``DenyAll`` boundary would stop DMS for everyone). Whoever
deploys the function (a platform team, a StackSet) sets them as template
parameters; they reach the function as environment variables. Each setting is
one :class:`Setting` row, read by the parser, the template check and the docs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import InvalidSetting, quoted
from .ownership import (
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MAX_USER_TAGS,
    RESERVED_PREFIXES,
    find_key,
)

T = TypeVar("T")

_BOUNDARY_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,1024}$")
#: What IAM accepts in tag keys and values besides letters, digits and spaces
#: (IAM API reference, Tag data type: ``[\p{L}\p{Z}\p{N}_.:/=+\-@]*``).
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
#: The value of RolePermissionsBoundary that removes the boundary from the roles.
NO_BOUNDARY = "none"


@dataclass(frozen=True)
class BoundaryChoice:
    """RolePermissionsBoundary: leave boundaries alone (the default), remove them, or set one."""

    arn: str | None = None
    remove: bool = False


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: template parameter, environment variable, default, parser, docs."""

    #: The template parameter that sets it; None for one only tests and demos change.
    parameter: str | None
    variable: str
    #: The parameter's default as the template states it (a string).
    default: str
    parse: Callable[[str], T]
    allowed: str
    description: str

    @property
    def default_value(self) -> T:
        return self.parse(self.default)

    def read(self, environ: Mapping[str, str]) -> T:
        raw = environ.get(self.variable, self.default)
        try:
            return self.parse(raw.strip())
        except InvalidSetting as invalid:
            where = (
                f"{self.parameter} parameter ({self.variable})"
                if self.parameter
                else (self.variable)
            )
            raise InvalidSetting(
                f"The deployment's {where} is invalid: {invalid.reason}"
            ) from invalid


def parse_boundary(raw: str) -> BoundaryChoice:
    if not raw:
        return BoundaryChoice()
    if raw.lower() == NO_BOUNDARY:
        return BoundaryChoice(remove=True)
    if not _BOUNDARY_ARN.match(raw):
        raise InvalidSetting(
            f"expected empty, {NO_BOUNDARY} or a managed policy ARN, got {quoted(raw)}."
        )
    return BoundaryChoice(raw)


def parse_tags(raw: str) -> tuple[tuple[str, str], ...]:
    """``Key=Value,Key=Value``; keys compare ignoring case, as IAM's do."""
    if not raw:
        return ()
    tags: dict[str, str] = {}
    for item in raw.split(","):
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise InvalidSetting(
                f"expected Key=Value pairs separated by commas, got {quoted(item)}."
            )
        if len(key) > MAX_TAG_KEY_LENGTH or not _TAG_TEXT.match(key):
            raise InvalidSetting(
                f"tag key {quoted(key)} must be 1-{MAX_TAG_KEY_LENGTH} letters, digits, spaces "
                "or _.:/+-@."
            )
        if len(value) > MAX_TAG_VALUE_LENGTH or not _TAG_TEXT.match(value):
            raise InvalidSetting(
                f"the value of {quoted(key)} must be at most {MAX_TAG_VALUE_LENGTH} letters, "
                "digits, spaces or _.:/+-@."
            )
        if any(key.lower().startswith(prefix) for prefix in RESERVED_PREFIXES):
            raise InvalidSetting(
                f"tag key {quoted(key)} uses a reserved prefix ({' or '.join(RESERVED_PREFIXES)})."
            )
        if value.lower().startswith("aws:"):  # IAM refuses such values too
            raise InvalidSetting(f"the value of {quoted(key)} may not begin with aws:.")
        if find_key(tags, key) is not None:
            raise InvalidSetting(f"the key {quoted(key)} is named twice (IAM ignores case).")
        tags[key] = value
    if len(tags) > MAX_USER_TAGS:
        raise InvalidSetting(
            f"{len(tags)} tags; at most {MAX_USER_TAGS} fit beside this project's own on a role."
        )
    return tuple(tags.items())


def parse_switch(raw: str) -> bool:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise InvalidSetting(f"expected true or false, got {quoted(raw)}.")


ROLE_PERMISSIONS_BOUNDARY: Setting[BoundaryChoice] = Setting(
    parameter="RolePermissionsBoundary",
    variable="ROLE_PERMISSIONS_BOUNDARY",
    default="",
    parse=parse_boundary,
    allowed=f"empty, `{NO_BOUNDARY}`, or a managed policy ARN",
    description="Permissions boundary set on the roles this project creates. Empty leaves "
    f"boundaries as they are; `{NO_BOUNDARY}` removes it.",
)
ROLE_TAGS: Setting[tuple[tuple[str, str], ...]] = Setting(
    parameter="RoleTags",
    variable="ROLE_TAGS",
    default="",
    parse=parse_tags,
    allowed=f"`Key=Value,Key=Value`, at most {MAX_USER_TAGS} tags",
    description="Tags set on the roles this project creates. Keys compare ignoring case, as "
    "IAM's do.",
)
RESTRICT_TO_SOURCE_ACCOUNT: Setting[bool] = Setting(
    parameter="RestrictToSourceAccount",
    variable="RESTRICT_TO_SOURCE_ACCOUNT",
    default="false",
    parse=parse_switch,
    allowed="`true` | `false`",
    description="Add an `aws:SourceAccount` condition (this account) to the trust policy of a "
    "role when this project creates it. An existing role's trust is never rewritten for it: DMS "
    "honours the condition only from engine 3.4.7, so an older running instance would break.",
)


def parse_seconds(raw: str) -> int:
    if raw.isdigit() and int(raw) <= MAX_SETTLE_SECONDS:
        return int(raw)
    raise InvalidSetting(
        f"expected whole seconds from 0 to {MAX_SETTLE_SECONDS}, got {quoted(raw)}."
    )


MAX_SETTLE_SECONDS = 600
SWEEP_SETTLE_SECONDS: Setting[int] = Setting(
    parameter=None,
    variable="SWEEP_SETTLE_SECONDS",
    default="60",
    parse=parse_seconds,
    allowed=f"0-{MAX_SETTLE_SECONDS}",
    description="How long the sweep waits, at each phase of a deletion, for any claim written "
    "before it to become visible (longer than IAM's read lag). A claimant that meets a "
    "deletion waits as long before it answers.",
)

#: IAM reports a role's last use up to four hours late ("Viewing last accessed
#: information", IAM user guide), so a shorter retention could delete a role in use.
MIN_RETENTION_MINUTES = 240
NEVER = "Never"


def parse_retention(raw: str) -> int | None:
    """Minutes, or None for Never; 0 (tests and demos) or at least MIN_RETENTION_MINUTES."""
    if raw.lower() == NEVER.lower():
        return None
    if raw.isdigit() and (int(raw) == 0 or int(raw) >= MIN_RETENTION_MINUTES):
        return int(raw)
    raise InvalidSetting(
        f"expected {NEVER}, 0 or whole minutes from {MIN_RETENTION_MINUTES}, got {quoted(raw)}."
    )


def parse_regions(raw: str) -> tuple[str, ...] | None:
    """Region names separated by commas; empty means every enabled region (None)."""
    if not raw:
        return None
    regions = tuple(r.strip() for r in raw.split(",") if r.strip())
    bad = [r for r in regions if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", r)]
    if bad or not regions:
        raise InvalidSetting(f"expected region names separated by commas, got {quoted(raw)}.")
    return regions


UNCLAIMED_ROLE_RETENTION: Setting[int | None] = Setting(
    parameter="UnclaimedRoleRetentionMinutes",
    variable="UNCLAIMED_ROLE_RETENTION_MINUTES",
    default="1440",
    parse=parse_retention,
    allowed=f"`{NEVER}`, `0`, or at least `{MIN_RETENTION_MINUTES}`",
    description="How long a role this project created stays after its last claim is gone "
    "(and after DMS last used it) before the sweep deletes it. At least "
    f"{MIN_RETENTION_MINUTES} minutes, since IAM reports a role's use up to four hours late; "
    f"`{NEVER}` keeps roles forever; `0`, for tests and demos, deletes at the next sweep.",
)
DMS_REGIONS: Setting[tuple[str, ...] | None] = Setting(
    parameter="DmsRegions",
    variable="DMS_REGIONS",
    default="",
    parse=parse_regions,
    allowed="empty, or region names separated by commas",
    description="Where the sweep asks DMS for resources that use the roles before it deletes "
    "one. Empty means every region enabled in the account; a region where DMS is not offered "
    "has nothing.",
)
VERIFY_REQUESTS: Setting[bool] = Setting(
    parameter="VerifyRequests",
    variable="VERIFY_REQUESTS",
    default="true",
    parse=parse_switch,
    allowed="`true` | `false`",
    description="Check every request with CloudFormation (DescribeStackResource shows this "
    "very resource in the operation's `*_IN_PROGRESS` status) before anything changes. A "
    "Create or Update that fails the check answers FAILED; a Delete releases nothing.",
)

#: Every setting, in the order the docs list them.
SETTINGS: tuple[Setting[Any], ...] = (
    ROLE_PERMISSIONS_BOUNDARY,
    ROLE_TAGS,
    RESTRICT_TO_SOURCE_ACCOUNT,
    VERIFY_REQUESTS,
    UNCLAIMED_ROLE_RETENTION,
    DMS_REGIONS,
    SWEEP_SETTLE_SECONDS,
)
#: Properties that were per stack in version 1 -> the parameter that now holds each.
MOVED_PROPERTIES: dict[str, str] = {
    old: str(setting.parameter)
    for old, setting in (
        ("PermissionsBoundary", ROLE_PERMISSIONS_BOUNDARY),
        ("Tags", ROLE_TAGS),
        ("RestrictToSourceAccount", RESTRICT_TO_SOURCE_ACCOUNT),
    )
}


@dataclass(frozen=True)
class AccountSettings:
    """The settings of this deployment; each default comes from its row above."""

    boundary: BoundaryChoice = ROLE_PERMISSIONS_BOUNDARY.default_value
    tags: tuple[tuple[str, str], ...] = ROLE_TAGS.default_value
    restrict_to_source_account: bool = RESTRICT_TO_SOURCE_ACCOUNT.default_value
    verify_requests: bool = VERIFY_REQUESTS.default_value
    #: None: never delete.
    retention_minutes: int | None = UNCLAIMED_ROLE_RETENTION.default_value
    #: None: every enabled region.
    dms_regions: tuple[str, ...] | None = DMS_REGIONS.default_value
    sweep_settle_seconds: int = SWEEP_SETTLE_SECONDS.default_value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AccountSettings:
        """Read every setting; raise InvalidSetting naming the parameter."""
        env = os.environ if environ is None else environ
        return cls(
            boundary=ROLE_PERMISSIONS_BOUNDARY.read(env),
            tags=ROLE_TAGS.read(env),
            restrict_to_source_account=RESTRICT_TO_SOURCE_ACCOUNT.read(env),
            verify_requests=VERIFY_REQUESTS.read(env),
            retention_minutes=UNCLAIMED_ROLE_RETENTION.read(env),
            dms_regions=DMS_REGIONS.read(env),
            sweep_settle_seconds=SWEEP_SETTLE_SECONDS.read(env),
        )

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)
