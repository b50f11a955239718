"""Create, Update and Delete of one Custom::DmsPrerequisiteRoles resource.

The three roles are independent, so each request works on them concurrently
(boto3 clients are thread-safe). The answer's attributes come from here; the
CloudFormation protocol itself lives in :mod:`dms_prereq.cfn`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .catalogue import ROLES, RoleSpec
from .errors import InvalidRequest
from .iam import IAMClient
from .properties import Properties, parse_properties
from .request import Request, ResourceRef
from .roles import Claimant, Claimed, ClaimKind, Released, claim_role, release_role
from .sightings import SIGHTINGS

log = logging.getLogger(__name__)

#: Seconds kept back from the propagation wait, to send the answer in time.
ANSWER_MARGIN_SECONDS = 3.0

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    physical_id: str
    attributes: dict[str, str]


def _each_role(roles: Iterable[RoleSpec], work: Callable[[RoleSpec], T]) -> dict[str, T]:
    """Run ``work`` on every role at once; raise the first failure in catalogue order."""
    roles = list(roles)
    if not roles:
        return {}
    with ThreadPoolExecutor(max_workers=len(roles), thread_name_prefix="role") as pool:
        futures = {role.name: pool.submit(work, role) for role in roles}
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    for error in errors[1:]:
        log.error("another role failed too", extra={"reason": str(error)})
    if errors:
        raise errors[0]  # type: ignore[misc]
    return {name: future.result() for name, future in futures.items()}


#: The Fn::GetAtt attributes that list role names, and which claims each lists (besides
#: the catalogue's ``arn_attribute`` of each role). The docs generator reads this too.
ROLE_LIST_ATTRIBUTES: dict[str, ClaimKind] = {
    "CreatedRoles": ClaimKind.CREATED,
    "AdoptedRoles": ClaimKind.ADOPTED,
}


def attributes(claims: dict[str, Claimed]) -> dict[str, str]:
    """Fn::GetAtt values: every ARN attribute (empty when not enabled) and the two lists."""
    values = {role.arn_attribute: "" for role in ROLES}
    values.update({c.role.arn_attribute: c.arn for c in claims.values()})
    for attribute, kind in ROLE_LIST_ATTRIBUTES.items():
        values[attribute] = ",".join(
            r.name for r in ROLES if r.name in claims and claims[r.name].kind is kind
        )
    return values


def _old_properties(request: Request) -> Properties | None:
    """OldResourceProperties, or None when they were invalid (then assume nothing)."""
    try:
        return parse_properties(request.old_properties, request.resource.partition)
    except InvalidRequest:
        return None


def provision(
    client: IAMClient,
    request: Request,
    *,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None],
) -> Answer:
    """Create or Update: claim every enabled role, release the ones no longer enabled."""
    resource = request.resource
    props = parse_properties(request.properties, resource.partition)
    old = _old_properties(request) if request.request_type == "Update" else None
    log.debug(
        "properties parsed",
        extra={"enabled": sorted(props.enabled_roles), "old_valid": old is not None},
    )
    was_enabled = {r.name for r in ROLES if old is None or old.enables(r)}
    claimant = Claimant(client, resource, props, old)

    def claim(role: RoleSpec) -> Claimed:
        # GetRole first when the role is likely there; see dms_prereq.sightings.
        expect_existing = (old is not None and old.enables(role)) or SIGHTINGS.exists(
            client, role.name
        )
        claimed = claim_role(claimant, role, expect_existing=expect_existing)
        SIGHTINGS.note(client, role.name, exists=True)
        return claimed

    claims = _each_role([r for r in ROLES if props.enables(r)], claim)
    if request.request_type == "Update":
        # Released only once every claim is held: a failed Update keeps its old claims,
        # so the rollback finds them (a foreign role under ExistingRolePolicy=Fail too).
        to_release = [r for r in ROLES if not props.enables(r) and r.name in was_enabled]
        _each_role(to_release, lambda role: _release(client, role, resource))
    if any(c.needs_propagation for c in claims.values()):
        _wait_for_propagation(props.propagation_delay_seconds, remaining_seconds, sleep)
    physical_id = request.physical_id if request.request_type == "Update" else None
    return Answer(physical_id or resource.physical_id, attributes(claims))


def _wait_for_propagation(
    delay: int, remaining_seconds: Callable[[], float], sleep: Callable[[float], None]
) -> None:
    wait = max(0.0, min(float(delay), remaining_seconds() - ANSWER_MARGIN_SECONDS))
    if wait < delay:
        log.warning(
            "propagation wait cut to fit the time left",
            extra={"requested_seconds": delay, "waited_seconds": round(wait, 3)},
        )
    if wait > 0:
        log.info("waiting for IAM to propagate", extra={"seconds": round(wait, 3)})
        sleep(wait)


def _release(client: IAMClient, role: RoleSpec, resource: ResourceRef) -> Released:
    released = release_role(client, role, resource)
    if released is not Released.NOT_CLAIMED:
        SIGHTINGS.note(client, role.name, exists=released is not Released.DELETED)
    return released


def release_all(client: IAMClient, resource: ResourceRef) -> dict[str, Released]:
    """Delete: release this resource's claim on all three roles, whatever it enabled."""
    return _each_role(ROLES, lambda role: _release(client, role, resource))


def delete(client: IAMClient, request: Request) -> str:
    """Release this resource's claims; returns the physical id to answer with."""
    if request.physical_id and request.physical_id != request.resource.physical_id:
        # Not an id this project hands out: a different resource (or a replacement's
        # old id), whose Delete must not release the live resource's claims.
        log.warning("physical id is not this resource's; nothing released")
        return request.physical_id
    outcome = release_all(client, request.resource)
    log.info("released", extra={"roles": {k: v.value for k, v in outcome.items()}})
    return request.physical_id or request.resource.physical_id
