"""The ownership vocabulary: the tags this project keeps on a role, and IAM's limits on them.

A role records, as IAM tags, who made it (``origin``: this project ``created``
it, or ``adopted`` one that existed before) and one *claim* per resource
instance that relies on it. The sweep adds two time marks. Everything that
reads or writes these tags takes their keys and their meaning from here; the
AWS adapter (:mod:`dms_prereq.iam`) only moves raw tags.

IAM compares tag keys of roles case-insensitively and preserves their case
(IAM user guide, "Tagging IAM resources": "you can't have separate Department
and department tag keys"), so keys are looked up here ignoring case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

#: Prefix of every tag key this project writes; user tags may not use it.
TAG_PREFIX = "dms-prerequisite-roles:"
ORIGIN_KEY = TAG_PREFIX + "origin"
CLAIM_KEY_PREFIX = TAG_PREFIX + "claim:"
#: Set by the sweep on a role this project created when it finds no claim on it.
UNCLAIMED_SINCE_KEY = TAG_PREFIX + "unclaimed-since"
#: Set by the sweep while it deletes a role.
DELETING_SINCE_KEY = TAG_PREFIX + "deleting-since"
#: The keys of the RoleTags setting this project last set on the role, separated by
#: commas, so that the sweep removes a tag the setting no longer names, and no other.
ROLE_TAGS_KEY = TAG_PREFIX + "role-tags"

#: IAM quotas on tags ("IAM and AWS STS quotas"): per role, counted over all calls.
MAX_TAGS_PER_ROLE = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
#: Tags the RoleTags setting may name: the rest holds the origin, the role-tags mark
#: and at least one claim.
MAX_USER_TAGS = MAX_TAGS_PER_ROLE - 3
#: Prefixes nobody may write (IAM reserves ``aws:``) or users may not (ours).
RESERVED_PREFIXES = ("aws:", TAG_PREFIX)


class Origin(StrEnum):
    """Who made the role: this project, or somebody else before it was claimed."""

    CREATED = "created"
    ADOPTED = "adopted"


def claim_key(claim_id: str) -> str:
    return CLAIM_KEY_PREFIX + claim_id


def role_tags_mark(keys: list[str]) -> dict[str, str]:
    """The mark recording which setting tags this project set; empty when there are none.

    A tag value holds MAX_TAG_VALUE_LENGTH characters: keys that do not fit are
    left out, so the sweep never removes them (it removes only what it knows it set).
    """
    value = ""
    for key in keys:
        longer = f"{value},{key}" if value else key
        if len(longer) > MAX_TAG_VALUE_LENGTH:
            break
        value = longer
    return {ROLE_TAGS_KEY: value} if value else {}


def is_ours(key: str) -> bool:
    """Whether a tag key is one this project writes."""
    return key.lower().startswith(TAG_PREFIX)


def find_key(tags: Mapping[str, str], key: str) -> str | None:
    """The key as the role stores it, compared ignoring case as IAM does; None when absent."""
    wanted = key.lower()
    return next((k for k in tags if k.lower() == wanted), None)


@dataclass(frozen=True)
class Ownership:
    """What a role's tags say about who owns and relies on it."""

    origin: Origin | None
    #: Claim id -> tag value, for every claim recorded on the role.
    claims: Mapping[str, str]
    unclaimed_since: str | None
    deleting_since: str | None
    #: Keys of the RoleTags setting this project set on the role.
    role_tags: tuple[str, ...]

    @classmethod
    def of(cls, tags: Mapping[str, str]) -> Ownership:
        lowered = {k.lower(): v for k, v in tags.items()}
        origin = lowered.get(ORIGIN_KEY)
        return cls(
            origin=Origin(origin) if origin in {o.value for o in Origin} else None,
            claims={
                key[len(CLAIM_KEY_PREFIX) :]: value
                for key, value in lowered.items()
                if key.startswith(CLAIM_KEY_PREFIX)
            },
            unclaimed_since=lowered.get(UNCLAIMED_SINCE_KEY),
            deleting_since=lowered.get(DELETING_SINCE_KEY),
            role_tags=tuple(k for k in lowered.get(ROLE_TAGS_KEY, "").split(",") if k),
        )

    def holds(self, claim_id: str) -> bool:
        return claim_id.lower() in self.claims
