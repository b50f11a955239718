"""Claiming and releasing one shared role: the ownership rules of spec.md.

Every resource instance holds a *claim* on each role it manages, kept as the
tag ``dms-prerequisite-roles:claim:<claim id>`` (value: the StackId) on the
role; the tag ``dms-prerequisite-roles:origin`` says whether this project
``created`` the role or ``adopted`` one that existed before
(:mod:`dms_prereq.ownership`).

IAM's reads are eventually consistent (a GetRole may miss a TagRole made
seconds earlier, even by the same caller) and it has no conditional writes.
No protocol that decides from a read whether a role is still needed survives
that, so a CloudFormation request only ever *adds*: a claim is one TagRole
followed by an AttachRolePolicy, and a release is one UntagRole of this
resource's own claim, whatever a read says. Nothing here detaches a policy or
deletes a role; the sweep does, after asking CloudFormation which stacks
still exist and waiting out IAM's read lag (spec.md, "The sweep").

Two marks of the sweep matter to a claimant: ``unclaimed-since`` (the sweep
found no claim) is simply removed; ``deleting-since`` (a sweep is deleting the
role) is removed too, and the claimant waits out the sweep's settle time and
attaches the managed policy once more before it answers, so that whatever the
sweep's phase, the role has its policy when CloudFormation hears SUCCESS.
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from . import iam as api
from .catalogue import RoleSpec
from .errors import AlreadyExists, AwsError, MissingPolicy, NotFound, RoleConflict
from .iam import IAMClient, RoleState
from .ownership import (
    DELETING_SINCE_KEY,
    MAX_TAGS_PER_ROLE,
    ORIGIN_KEY,
    UNCLAIMED_SINCE_KEY,
    Origin,
    Ownership,
    claim_key,
    find_key,
    role_tags_mark,
)
from .properties import ExistingRolePolicy, Properties
from .request import ResourceRef
from .settings import ROLE_PERMISSIONS_BOUNDARY, AccountSettings
from .trust import allows_service, same_policy

log = logging.getLogger(__name__)

#: Rounds of create-or-read before giving up on a role that keeps vanishing or hiding.
MAX_ROUNDS = 8
#: Tries for a call that meets NoSuchEntity just after CreateRole.
NEW_ROLE_TRIES = 8
#: The only path DMS looks its roles up at.
DMS_ROLE_PATH = "/"


@dataclass(frozen=True)
class Claimant:
    """One resource instance claiming roles: where, as whom, and what it asks for."""

    client: IAMClient
    resource: ResourceRef
    props: Properties
    settings: AccountSettings
    #: True for an Update: a role this resource already claims is then no news.
    is_update: bool = False

    @property
    def key(self) -> str:
        """The tag key of this resource's claim."""
        return claim_key(self.resource.claim_id)

    def trust_policy(self, role: RoleSpec) -> dict[str, object]:
        """The trust policy a role gets when this project creates it."""
        restrict = self.settings.restrict_to_source_account
        return role.trust_policy(self.resource.account if restrict else None)

    def acceptable_trust(self, role: RoleSpec, trust: dict[str, object]) -> bool:
        """Whether a role this project created trusts as the catalogue says.

        With or without the aws:SourceAccount condition: an existing role's trust
        is never rewritten for that setting alone (DMS honours the condition
        only from engine 3.4.7, so a running older instance would break).
        """
        forms = (role.trust_policy(None), role.trust_policy(self.resource.account))
        return any(same_policy(trust, form) for form in forms)

    def policy_arn(self, role: RoleSpec) -> str:
        return role.managed_policy_arn(self.resource.partition)


class ClaimKind(StrEnum):
    CREATED = "created"  # this request created the role
    JOINED = "joined"  # a role this project created (for another claim or earlier)
    ADOPTED = "adopted"  # a role that existed before, outside this project: claimed now
    KEPT = "kept"  # a role from outside this project that this resource had claimed already


@dataclass(frozen=True)
class Claimed:
    role: RoleSpec
    kind: ClaimKind
    #: When IAM will have propagated the role as it is now (its creation, or a trust
    #: change, plus PropagationDelaySeconds); None when nothing is new.
    ready_at: datetime | None
    #: A sweep was deleting the role: wait out its settle time, then attach again.
    met_deletion: bool = False


def _pause(attempt: int) -> None:
    time.sleep(min(0.2 * 2**attempt, 2.0))


def _description(role: RoleSpec) -> str:
    return (
        f"Lets AWS DMS work: it {role.purpose}. Managed by dms-prerequisite-roles; "
        "its tags name the stacks that use it."
    )


def _ready_at(since: datetime | None, delay: int) -> datetime | None:
    return since + timedelta(seconds=delay) if since is not None else None


def claim_role(claimant: Claimant, role: RoleSpec, *, expect_existing: bool) -> Claimed:
    """Make ``role`` exist and record this resource's claim on it.

    ``expect_existing`` picks the first call: GetRole when the role is probably
    there (an Update of a role this resource claimed, or one this process saw
    lately, :mod:`dms_prereq.sightings`), CreateRole otherwise. Either way a
    read that does not show the role yet (IAM's reads lag) ends in CreateRole,
    which IAM itself answers consistently.
    """
    client = claimant.client
    #: When this request first asked CreateRole and heard "already exists": the role
    #: may be its own, made by a call whose answer was lost and that botocore retried.
    began: datetime | None = None
    for attempt in range(MAX_ROUNDS):
        if not expect_existing:
            # IAM's CreateDate has whole seconds: a role this call makes is no older.
            asked = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
            try:
                return _create(claimant, role)
            except AlreadyExists:
                began = began or asked
        read_at = time.monotonic()
        state = api.get_role(client, role.name)
        if state is None:
            # Gone, or so new that this read does not show it yet: ask CreateRole.
            expect_existing = False
            if attempt:
                _pause(attempt)
            continue
        try:
            return _claim_existing(claimant, role, state, read_at, began)
        except NotFound:
            # Deleted under us by a sweep: create it afresh.
            expect_existing = False
            continue
    raise AwsError(
        f"{role.name} kept disappearing or could not be read while this request claimed it "
        f"({MAX_ROUNDS} rounds); retry the stack operation."
    )


def _create(claimant: Claimant, role: RoleSpec) -> Claimed:
    client, settings = claimant.client, claimant.settings
    tags = {
        ORIGIN_KEY: Origin.CREATED.value,
        claimant.key: claimant.resource.stack_id,
        **settings.tag_dict,
        **role_tags_mark(list(settings.tag_dict)),
    }
    try:
        api.create_role(
            client,
            role.name,
            claimant.trust_policy(role),
            tags,
            settings.boundary.arn,
            _description(role),
        )
    except MissingPolicy as missing:
        raise RoleConflict(
            f"The permissions boundary {missing.policy} does not exist, so {role.name} cannot "
            f"be created; fix the deployment's {ROLE_PERMISSIONS_BOUNDARY.parameter} parameter."
        ) from missing
    created = datetime.now(UTC)
    log.info("created role", extra={"role": role.name})
    policy = claimant.policy_arn(role)
    for attempt in range(NEW_ROLE_TRIES):
        try:
            api.attach_policy(client, role.name, policy)
            break
        except NotFound:
            # IAM is eventually consistent: the role we just made may not be visible yet.
            if attempt == NEW_ROLE_TRIES - 1:
                raise
            _pause(attempt)
    delay = claimant.props.propagation_delay_seconds
    return Claimed(role, ClaimKind.CREATED, _ready_at(created, delay))


def _claim_existing(
    claimant: Claimant, role: RoleSpec, state: RoleState, read_at: float, began: datetime | None
) -> Claimed:
    if state.path != DMS_ROLE_PATH:
        raise RoleConflict(
            f"{role.name} exists at path {state.path}, but DMS looks its roles up only at "
            "path /; delete it (role names are unique across paths) so that it can be made at /."
        )
    if Ownership.of(state.tags).origin is Origin.CREATED:
        return _join(claimant, role, state, read_at, began)
    return _adopt(claimant, role, state, read_at)


def _check_room(state: RoleState, add: dict[str, str]) -> None:
    """Refuse early, in words, what IAM would refuse with LimitExceeded."""
    after = len(state.tags) + sum(1 for key in add if find_key(state.tags, key) is None)
    if after > MAX_TAGS_PER_ROLE:
        raise RoleConflict(
            f"{state.name} has no room for this resource's claim: IAM allows "
            f"{MAX_TAGS_PER_ROLE} tags per role and it already has {len(state.tags)}; "
            "release stale claims (dms-prereq-roles prune) or remove other tags."
        )


def _record_claim(
    claimant: Claimant, role: RoleSpec, state: RoleState, add: dict[str, str], read_at: float
) -> bool:
    """Tag the claim, then clear the sweep's marks; True when a sweep was deleting the role.

    The claim is tagged even when the read shows it: a read may lag behind a
    Delete of this very resource that removed it since. A claim whose read
    and tag lie far apart counts as having met a deletion too: a sweep may have
    marked the role after the read (dms_prereq.sweep explains the bound).
    """
    add = {claimant.key: claimant.resource.stack_id, **add}
    _check_room(state, add)
    api.tag_role(claimant.client, role.name, add)  # the claim lands before the attach
    marks = [
        found
        for found in (find_key(state.tags, k) for k in (UNCLAIMED_SINCE_KEY, DELETING_SINCE_KEY))
        if found is not None
    ]
    api.untag_role(claimant.client, role.name, marks)
    slow = time.monotonic() - read_at > claimant.settings.sweep_settle_seconds / 4
    return slow or Ownership.of(state.tags).deleting_since is not None


def _join(
    claimant: Claimant,
    role: RoleSpec,
    state: RoleState,
    read_at: float,
    began: datetime | None,
) -> Claimed:
    """A role this project created: claim it, attach its policy, repair a drifted trust."""
    client = claimant.client
    held = Ownership.of(state.tags).holds(claimant.resource.claim_id)
    met_deletion = _record_claim(claimant, role, state, {}, read_at)
    delay = claimant.props.propagation_delay_seconds
    # A role created a moment ago by another stack is as new as one this request made.
    ready_at = _ready_at(state.created, delay)
    if not claimant.acceptable_trust(role, state.trust):
        api.update_trust(client, role.name, claimant.trust_policy(role))
        log.info("repaired trust policy", extra={"role": role.name})
        ready_at = _ready_at(datetime.now(UTC), delay)
    # Always attached, whatever a read says: this attach, after the claim, is what
    # makes a sweep that detached the policy meanwhile fail its DeleteRole.
    api.attach_policy(client, role.name, claimant.policy_arn(role))
    # And the claim once more: a sweep may have deleted the role the first TagRole
    # landed on, and another stack made it anew before the attach, which then
    # succeeded on a role without this claim (found by the races).
    api.tag_role(client, role.name, {claimant.key: claimant.resource.stack_id})
    kind = ClaimKind.JOINED
    made_now = began is not None and state.created is not None and state.created >= began
    if held and (not claimant.is_update or made_now):
        # This resource's claim was already on a role this project created: CreateRole's
        # answer was lost and botocore's retry met the role this very request made (a
        # Create, or an Update made since), or the Create was delivered twice. It made it.
        kind = ClaimKind.CREATED
    return Claimed(role, kind, ready_at, met_deletion)


def _adopt(claimant: Claimant, role: RoleSpec, state: RoleState, read_at: float) -> Claimed:
    """A role somebody else made: never rewrite it; claim it if DMS can use it."""
    ownership = Ownership.of(state.tags)
    held = ownership.holds(claimant.resource.claim_id)
    if claimant.props.existing_role_policy is ExistingRolePolicy.FAIL and not held:
        raise RoleConflict(
            f"{role.name} already exists and was not created by this project; set "
            "ExistingRolePolicy to Adopt to share it, or delete the role first."
        )
    missing = [p for p in role.principals if not allows_service(state.trust, p)]
    if missing:
        raise RoleConflict(
            f"{role.name} exists but its trust policy does not let {' and '.join(missing)} "
            "assume it; add that principal to the role's trust policy (this project never "
            "rewrites a role it did not create)."
        )
    add = {ORIGIN_KEY: Origin.ADOPTED.value} if ownership.origin is None else {}
    met_deletion = _record_claim(claimant, role, state, add, read_at)
    api.attach_policy(claimant.client, role.name, claimant.policy_arn(role))
    if not held:
        log.info("adopted role", extra={"role": role.name})
    delay = claimant.props.propagation_delay_seconds
    kind = ClaimKind.KEPT if held else ClaimKind.ADOPTED
    return Claimed(role, kind, _ready_at(state.created, delay), met_deletion)


def attach_again(claimant: Claimant, role: RoleSpec) -> None:
    """After a sweep's settle time: the policy once more (the sweep may have detached it)."""
    api.attach_policy(claimant.client, role.name, claimant.policy_arn(role))


def release_role(client: IAMClient, role: RoleSpec, resource: ResourceRef) -> None:
    """Remove this resource's claim from ``role``: one UntagRole, whatever a read says.

    A read may not yet show a claim written a moment ago, and removing a key the
    role lacks is harmless, so there is no read. Nothing is detached or deleted:
    that is the sweep's job, once CloudFormation confirms nobody needs the role.
    """
    with suppress(NotFound):  # no such role: nothing to release
        api.untag_role(client, role.name, [claim_key(resource.claim_id)])
