"""Create, Update and Delete of one Custom::DmsPrerequisiteRoles resource.

The three roles are independent, so each request works on them concurrently
(boto3 clients are thread-safe). Create and Update only add claims; Delete only
removes this resource's claims (spec.md, "Ownership"). The answer's attributes
come from here; the CloudFormation protocol itself lives in :mod:`dms_prereq.cfn`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from .catalogue import ROLES, RoleSpec
from .errors import InvalidRequest, ProvisioningError
from .iam import IAMClient
from .properties import Properties, parse_properties
from .request import Request, ResourceRef
from .roles import Claimant, Claimed, ClaimKind, attach_again, claim_role, release_role
from .settings import AccountSettings
from .sightings import SIGHTINGS

log = logging.getLogger(__name__)

#: Seconds kept back from any wait, to send the answer in time.
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


def attributes(claims: dict[str, Claimed], resource: ResourceRef) -> dict[str, str]:
    """Fn::GetAtt values: every ARN attribute (empty when not enabled) and the two lists.

    ARNs are built from partition, account and name: DMS finds roles at path /
    only, and GetRole may answer the role's unique id for a while after CreateRole.
    """
    values = {role.arn_attribute: "" for role in ROLES}
    values.update(
        {
            c.role.arn_attribute: c.role.role_arn(resource.partition, resource.account)
            for c in claims.values()
        }
    )
    for attribute, kind in ROLE_LIST_ATTRIBUTES.items():
        values[attribute] = ",".join(
            r.name for r in ROLES if r.name in claims and claims[r.name].kind is kind
        )
    return values


def _old_properties(request: Request) -> Properties | None:
    """OldResourceProperties, or None when they were invalid (then assume nothing)."""
    try:
        return parse_properties(request.old_properties, refuse_moved=False)
    except InvalidRequest:
        return None


def provision(
    client: IAMClient,
    request: Request,
    settings: AccountSettings,
    *,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None],
) -> Answer:
    """Create or Update: claim every enabled role. Releases nothing (Updates only add)."""
    resource = request.resource
    is_update = request.request_type == "Update"
    props = parse_properties(request.properties, refuse_moved=not is_update)
    old = _old_properties(request) if is_update else None
    log.debug(
        "properties parsed",
        extra={"enabled": sorted(props.enabled_roles), "old_valid": old is not None},
    )
    claimant = Claimant(client, resource, props, settings, is_update=is_update)

    def claim(role: RoleSpec) -> Claimed:
        # GetRole first when the role is likely there; see dms_prereq.sightings.
        expect_existing = (old is not None and old.enables(role)) or SIGHTINGS.exists(
            client, role.name
        )
        claimed = claim_role(claimant, role, expect_existing=expect_existing)
        SIGHTINGS.note(client, role.name, exists=True)
        return claimed

    claims = _each_role([r for r in ROLES if props.enables(r)], claim)
    met_deletion = [c.role for c in claims.values() if c.met_deletion]
    if met_deletion:
        # A sweep was deleting these roles: once its settle time has passed, it has
        # either seen our claim and stopped, or detached before our attach landed.
        _wait(float(settings.sweep_settle_seconds), remaining_seconds, sleep, "sweep settle")
        _each_role(met_deletion, lambda role: attach_again(claimant, role))
    ready = [c.ready_at for c in claims.values() if c.ready_at is not None]
    if ready:
        left = (max(ready) - datetime.now(UTC)).total_seconds()
        _wait(min(left, float(props.propagation_delay_seconds)), remaining_seconds, sleep, "IAM")
    physical_id = request.physical_id if is_update else None
    return Answer(physical_id or resource.physical_id, attributes(claims, resource))


def _wait(
    seconds: float,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None],
    what: str,
) -> None:
    """Sleep ``seconds``, cut to leave time for the answer."""
    if seconds <= 0:
        return
    wait = max(0.0, min(seconds, remaining_seconds() - ANSWER_MARGIN_SECONDS))
    if wait < seconds:
        log.warning(
            "wait cut to fit the time left",
            extra={"for": what, "requested_seconds": round(seconds, 3), "waited_seconds": wait},
        )
    if wait > 0:
        log.info("waiting", extra={"for": what, "seconds": round(wait, 3)})
        sleep(wait)


def release_all(client: IAMClient, resource: ResourceRef) -> list[str]:
    """Remove this resource's claim from all three roles, whatever it enabled.

    Returns the roles whose release failed (the sweep releases those later).
    """

    def release(role: RoleSpec) -> str | None:
        try:
            release_role(client, role, resource)
        except ProvisioningError as error:
            log.error("claim not released", extra={"role": role.name, "reason": str(error)})
            return role.name
        return None

    outcome = _each_role(ROLES, release)
    return [name for name, failed in outcome.items() if failed]


def delete(client: IAMClient, request: Request) -> str:
    """Release this resource's claims whatever its PhysicalResourceId says.

    The id never changes on Update, so no Delete is for a replacement; a stack
    whose create was cancelled sends one with an id CloudFormation made up,
    possibly while the Create still runs. Returns the physical id to answer with.
    """
    failed = release_all(client, request.resource)
    log.info("released", extra={"not_released": failed})
    return request.physical_id or request.resource.physical_id
