"""Reading the claims a role carries back into the resources that made them.

A claim is the tag ``dms-prerequisite-roles:claim:<claim id>`` whose value is
``"<StackId> <LogicalResourceId>"`` (see :attr:`dms_prereq.request.ResourceRef.label`).
The claim id is a hash of those two, so a value that reproduces it names the
resource exactly; one that does not (cut to IAM's 256 characters, or edited
by hand) is reported as it stands and never released.
"""

from __future__ import annotations

from dataclasses import dataclass

from dms_prereq.errors import InvalidRequest
from dms_prereq.iam import RoleState
from dms_prereq.ownership import Ownership
from dms_prereq.request import ResourceRef


@dataclass(frozen=True)
class Claim:
    """One resource's claim on one role."""

    claim_id: str
    label: str
    #: The resource that holds it, or None when the label does not name it exactly.
    resource: ResourceRef | None

    @classmethod
    def from_tag(cls, claim_id: str, label: str) -> Claim:
        stack_id, _, logical_id = label.partition(" ")
        try:
            resource: ResourceRef | None = ResourceRef.parse(stack_id, logical_id)
        except InvalidRequest:
            resource = None
        if resource is not None and resource.claim_id != claim_id:
            resource = None
        return cls(claim_id=claim_id, label=label, resource=resource)

    @property
    def display(self) -> str:
        """``stack-name/LogicalId``, or the raw label when it cannot be read."""
        if self.resource is None:
            return f"{self.label or '(empty)'} [unreadable claim {self.claim_id}]"
        return f"{self.resource.stack_name}/{self.resource.logical_id}"

    def as_json(self) -> dict[str, str | None]:
        ref = self.resource
        return {
            "claim_id": self.claim_id,
            "stack_name": ref.stack_name if ref else None,
            "stack_id": ref.stack_id if ref else None,
            "logical_id": ref.logical_id if ref else None,
            "label": self.label,
        }


def claims_of(state: RoleState) -> list[Claim]:
    """The role's claims, in a stable order (by stack name, then logical id)."""
    found = [
        Claim.from_tag(claim_id, label)
        for claim_id, label in Ownership.of(state.tags).claims.items()
    ]
    return sorted(found, key=lambda c: (c.display, c.claim_id))
