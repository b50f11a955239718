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

#: IAM quotas on tags ("IAM and AWS STS quotas"): per role, counted over all calls.
MAX_TAGS_PER_ROLE = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
#: Tags a user may set on a role: the rest holds the origin mark and at least one claim.
MAX_USER_TAGS = MAX_TAGS_PER_ROLE - 2
#: Prefixes nobody may write (IAM reserves ``aws:``) or users may not (ours).
RESERVED_PREFIXES = ("aws:", TAG_PREFIX)


class Origin(StrEnum):
    """Who made the role: this project, or somebody else before it was claimed."""

    CREATED = "created"
    ADOPTED = "adopted"


def claim_key(claim_id: str) -> str:
    return CLAIM_KEY_PREFIX + claim_id


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
        )

    def holds(self, claim_id: str) -> bool:
        return claim_id.lower() in self.claims
