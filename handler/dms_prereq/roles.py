"""Claiming and releasing one shared role: the ownership rules of spec.md.

Every resource instance holds a *claim* on each role it manages, kept as a tag
``dms-prerequisite-roles:claim:<claim id>`` on the role. The tag
``dms-prerequisite-roles:origin`` says whether this project ``created`` the
role or ``adopted`` one that existed before. A role is deleted only when this
project created it and its last claim is released.

IAM has no conditional writes, so two protocols keep concurrent stacks safe:

* A claimant writes its claim tag *before* it attaches the managed policy.
* The last claimant to leave detaches the managed policy, *then* re-reads the
  claims, and only then calls DeleteRole, which IAM refuses while any policy
  is attached.

If the leaver's re-read missed a new claim, that claim was tagged after the
detach, so the newcomer's attach comes later still: either it lands before
DeleteRole (which then fails with DeleteConflict and the role is kept) or
after it (the attach finds no role and the newcomer creates it afresh).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from enum import StrEnum

from . import iam as api
from .catalogue import RoleSpec
from .errors import AlreadyExists, AwsError, DeleteConflict, NotFound, RoleConflict
from .iam import IAMClient, RoleState
from .ownership import MAX_TAGS_PER_ROLE, ORIGIN_KEY, Origin, Ownership, claim_key
from .properties import ExistingRolePolicy, Properties
from .request import ResourceRef
from .trust import allows_service, same_policy

log = logging.getLogger(__name__)

#: Rounds of create-or-join before giving up on a role that keeps vanishing.
MAX_ROUNDS = 6
#: Tries for a call that meets NoSuchEntity just after CreateRole.
NEW_ROLE_TRIES = 6


@dataclass(frozen=True)
class Claimant:
    """One resource instance claiming roles: where, as whom, and what it asks for.

    ``old`` is what the same resource asked for before (an Update's
    OldResourceProperties), or None.
    """

    client: IAMClient
    resource: ResourceRef
    props: Properties
    old: Properties | None = None

    @property
    def key(self) -> str:
        """The tag key of this resource's claim."""
        return claim_key(self.resource.claim_id)

    def trust_policy(self, role: RoleSpec) -> dict[str, object]:
        restrict = self.props.restrict_to_source_account
        return role.trust_policy(self.resource.account if restrict else None)

    def policy_arn(self, role: RoleSpec) -> str:
        return role.managed_policy_arn(self.resource.partition)


class ClaimKind(StrEnum):
    CREATED = "created"  # this request created the role
    JOINED = "joined"  # the role was created by this project (for another claim or earlier)
    ADOPTED = "adopted"  # the role existed before, outside this project


@dataclass(frozen=True)
class Claimed:
    role: RoleSpec
    arn: str
    kind: ClaimKind
    #: A role was created or its trust policy changed: IAM needs time to propagate.
    needs_propagation: bool


class Released(StrEnum):
    NOT_CLAIMED = "not-claimed"  # absent, or this resource held no claim on it
    RELEASED = "released"  # claim removed, role kept for its other claims or because it is foreign
    DELETED = "deleted"
    KEPT = "kept"  # last claim gone, but the role carries something else


def _pause(attempt: int) -> None:
    time.sleep(min(0.2 * 2**attempt, 2.0))


def _description(role: RoleSpec) -> str:
    return (
        f"Lets AWS DMS work: it {role.purpose}. Managed by dms-prerequisite-roles; "
        "its tags name the stacks that use it."
    )


def claim_role(claimant: Claimant, role: RoleSpec, *, expect_existing: bool) -> Claimed:
    """Make ``role`` exist as specified and record this resource's claim on it.

    ``expect_existing`` picks the first call: GetRole when this resource
    already claimed the role (an Update) or this process saw the role lately
    (:mod:`dms_prereq.sightings`), CreateRole otherwise, so the usual case of
    each costs no failed call.
    """
    client, old = claimant.client, claimant.old
    for attempt in range(MAX_ROUNDS):
        if not expect_existing:
            try:
                return _create(claimant, role)
            except AlreadyExists:
                pass
        state = api.get_role(client, role.name)
        if state is None:
            expect_existing = False
            if attempt:
                _pause(attempt)
            continue
        try:
            claimed = _claim_existing(claimant, role, state)
        except NotFound:
            # Deleted under us by the last claimant of another stack: create it.
            expect_existing = False
            continue
        mine_already = Ownership.of(state.tags).holds(claimant.resource.claim_id)
        # Anything but an Update of a claim this resource held: its first call was CreateRole,
        # or GetRole on a hint from dms_prereq.sightings, and it must answer the same either way.
        new_claim = not (expect_existing and old is not None and old.enables(role))
        if new_claim and claimed.kind is ClaimKind.JOINED and mine_already:
            # CreateRole found the role, yet this resource's claim was already on it: this
            # very request made it (a CreateRole retried after its answer was lost) or a
            # duplicate delivery of it did. It is new: say so, and let IAM propagate.
            return replace(claimed, kind=ClaimKind.CREATED, needs_propagation=True)
        return claimed
    raise AwsError(
        f"{role.name} kept disappearing while this request claimed it "
        f"({MAX_ROUNDS} rounds); retry the stack operation."
    )


def _create(claimant: Claimant, role: RoleSpec) -> Claimed:
    client, props = claimant.client, claimant.props
    tags = {
        ORIGIN_KEY: Origin.CREATED.value,
        claimant.key: claimant.resource.label,
        **props.tag_dict,
    }
    arn = api.create_role(
        client,
        role.name,
        claimant.trust_policy(role),
        tags,
        props.permissions_boundary,
        _description(role),
    )
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
    return Claimed(role, arn, ClaimKind.CREATED, needs_propagation=True)


def _claim_existing(claimant: Claimant, role: RoleSpec, state: RoleState) -> Claimed:
    if Ownership.of(state.tags).origin is Origin.CREATED:
        return _join(claimant, role, state)
    return _adopt(claimant, role, state)


def _check_room(state: RoleState, add: dict[str, str], remove: list[str]) -> None:
    after = len(set(state.tags) | set(add)) - len(set(remove) & set(state.tags))
    if after > MAX_TAGS_PER_ROLE:
        raise RoleConflict(
            f"{state.name} has no room for this resource's claim: IAM allows "
            f"{MAX_TAGS_PER_ROLE} tags per role and it already has {len(state.tags)}; "
            "release stale claims (dms-prereq-roles prune) or remove other tags."
        )


def _join(claimant: Claimant, role: RoleSpec, state: RoleState) -> Claimed:
    """A role this project created: claim it and repair drift."""
    client, props, old = claimant.client, claimant.props, claimant.old
    add = {k: v for k, v in props.tag_dict.items() if state.tags.get(k) != v}
    key = claimant.key
    if key not in state.tags:
        add[key] = claimant.resource.label
    # Remove a tag key this resource dropped only while the role still holds its value.
    old_tags = old.tag_dict if old else {}
    removed = [k for k, v in old_tags.items() if k not in props.tag_dict and state.tags.get(k) == v]
    _check_room(state, add, removed)
    api.tag_role(client, role.name, add)  # the claim lands before the attach below
    api.untag_role(client, role.name, removed)

    trust = claimant.trust_policy(role)
    trust_changed = not same_policy(state.trust, trust)
    if trust_changed:
        api.update_trust(client, role.name, trust)
        log.info("repaired trust policy", extra={"role": role.name})

    boundary = props.permissions_boundary
    if boundary and state.boundary != boundary:
        api.put_boundary(client, role.name, boundary)
    elif (
        boundary is None
        and old is not None
        and old.permissions_boundary is not None
        and state.boundary == old.permissions_boundary
    ):
        api.delete_boundary(client, role.name)

    api.attach_policy(client, role.name, claimant.policy_arn(role))
    return Claimed(role, state.arn, ClaimKind.JOINED, needs_propagation=trust_changed)


def _adopt(claimant: Claimant, role: RoleSpec, state: RoleState) -> Claimed:
    """A role somebody else made: never rewrite it; claim it if it is usable."""
    client, key = claimant.client, claimant.key
    ownership = Ownership.of(state.tags)
    already_mine = ownership.holds(claimant.resource.claim_id)
    if claimant.props.existing_role_policy is ExistingRolePolicy.FAIL and not already_mine:
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
    add: dict[str, str] = {} if already_mine else {key: claimant.resource.label}
    if ownership.origin is None:
        add[ORIGIN_KEY] = Origin.ADOPTED.value
    _check_room(state, add, [])
    api.tag_role(client, role.name, add)
    api.attach_policy(client, role.name, claimant.policy_arn(role))
    if not already_mine:
        log.info("adopted role", extra={"role": role.name})
    return Claimed(role, state.arn, ClaimKind.ADOPTED, needs_propagation=False)


def release_role(client: IAMClient, role: RoleSpec, resource: ResourceRef) -> Released:
    """Remove this resource's claim; delete the role if this project made it and none remain."""
    state = api.get_role(client, role.name)
    key = claim_key(resource.claim_id)
    if state is None or key not in state.tags:
        return Released.NOT_CLAIMED
    ownership = Ownership.of(state.tags)
    others = set(ownership.claims) - {resource.claim_id}
    if others or ownership.origin is not Origin.CREATED:
        keys = [key]
        if not others and ownership.origin is Origin.ADOPTED:
            keys.append(ORIGIN_KEY)  # leave a foreign role as we found it
        api.untag_role(client, role.name, keys)
        if not others:
            return Released.RELEASED
        # Two last claimants leaving at once each read the other's claim. Whoever
        # untags second sees no claim left on this re-read and finishes the job.
        state = api.get_role(client, role.name)
        if state is None or Ownership.of(state.tags).claims:
            return Released.RELEASED
        reread = Ownership.of(state.tags)
        if reread.origin is not Origin.CREATED:
            if reread.origin is Origin.ADOPTED:
                api.untag_role(client, role.name, [ORIGIN_KEY])
            return Released.RELEASED

    policy = role.managed_policy_arn(resource.partition)
    api.detach_policy(client, role.name, policy)
    again = api.get_role(client, role.name)
    if again is None:
        return Released.DELETED
    if set(Ownership.of(again.tags).claims) - {resource.claim_id}:
        _keep(client, role, policy, key)
        log.info("kept role: another resource claimed it meanwhile", extra={"role": role.name})
        return Released.KEPT
    try:
        api.delete_role(client, role.name)
    except NotFound:
        pass
    except DeleteConflict:
        # Restore the role before asking why it stays (that is for the log only), so a
        # release cut short here still leaves it as this project made it.
        _keep(client, role, policy, key)
        blockers = [b for b in api.describe_blockers(client, role.name) if not b.endswith(policy)]
        why = "it carries " + ", ".join(blockers) if blockers else "a claim arrived meanwhile"
        log.info("kept role after its last claim", extra={"role": role.name, "why": why})
        return Released.KEPT
    log.info("deleted role", extra={"role": role.name})
    return Released.DELETED


def _keep(client: IAMClient, role: RoleSpec, policy: str, key: str) -> None:
    """Give a role that stays its managed policy back, then drop this resource's claim.

    Always re-attached (attaching is idempotent): a previous try of this release may
    have detached it and then failed, and only this project's releases detach it.
    """
    api.attach_policy(client, role.name, policy)
    api.untag_role(client, role.name, [key])
