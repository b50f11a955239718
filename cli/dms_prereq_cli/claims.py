"""The claims on a role, as the tool shows them: whose they are, and what CloudFormation says.

A claim is the tag ``dms-prerequisite-roles:claim:<claim id>`` whose value is
the StackId (:mod:`dms_prereq.ownership`); the claim id hashes the StackId and
the resource's logical id (:func:`dms_prereq.request.claim_id_for`). Whether
the claim is still live is the sweep's verdict (:class:`dms_prereq.stacks.ClaimCheck`):
this module only puts the two side by side. Version 1 wrote ``"<StackId>
<LogicalResourceId>"``; such a value names its logical id, shown when it
reproduces the claim id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dms_prereq.iam import RoleState
from dms_prereq.ownership import Ownership
from dms_prereq.request import StackRef, claim_id_for
from dms_prereq.stacks import ClaimCheck, Verdict, stack_of_claim
from dms_prereq.sweep import RoleReport


@dataclass(frozen=True)
class Claim:
    """One resource's claim on one role, and the sweep's verdict on it."""

    role: str
    claim_id: str
    #: The tag's value; empty when the sweep saw a claim this tool's read did not.
    value: str
    #: The sweep's verdict; None when the sweep did not judge it (it stopped early).
    check: ClaimCheck | None
    #: Released by this sweep (or, in a dry run, would be).
    released: bool = False

    @property
    def stack(self) -> StackRef | None:
        return stack_of_claim(self.value)

    @property
    def logical_id(self) -> str | None:
        """The logical id a version 1 value names, when it reproduces the claim id."""
        stack_id, _, logical_id = self.value.partition(" ")
        if logical_id and claim_id_for(stack_id, logical_id) == self.claim_id:
            return logical_id
        return None

    @property
    def stack_display(self) -> str:
        stack = self.stack
        if stack is None:
            return f"{self.value[:60] or '?'} (names no stack)"
        return f"{stack.stack_name}/{self.logical_id}" if self.logical_id else stack.stack_name

    @property
    def verdict(self) -> str:
        return self.check.verdict.value if self.check else "not judged"

    @property
    def unreadable(self) -> bool:
        """A value that names no stack: nobody can tell whose claim it is."""
        return bool(self.value) and self.stack is None

    def row(self, *, outcome: str | None = None) -> tuple[str, ...]:
        cells = (
            self.role,
            self.stack_display,
            self.claim_id,
            self.verdict,
            self.check.why if self.check else "-",
        )
        return cells if outcome is None else (*cells, outcome)

    def as_json(self) -> dict[str, Any]:
        stack = self.stack
        check = self.check
        return {
            "role": self.role,
            "claim_id": self.claim_id,
            "value": self.value,
            "stack_id": stack.stack_id if stack else None,
            "stack_name": stack.stack_name if stack else None,
            "region": stack.region if stack else None,
            "logical_id": self.logical_id,
            "verdict": check.verdict.value if check else None,
            "why": check.why if check else None,
            "released": self.released,
        }


def claims_of(state: RoleState | None, report: RoleReport | None) -> list[Claim]:
    """The role's claims as read, with the sweep's verdicts; stable order (stack, claim id)."""
    values = dict(Ownership.of(state.tags).claims) if state else {}
    checks = dict(report.checks) if report else {}
    released = set(report.released) if report else set()
    name = state.name if state else (report.role if report else "")
    found = [
        Claim(name, claim_id, values.get(claim_id, ""), checks.get(claim_id), claim_id in released)
        for claim_id in sorted(set(values) | set(checks))
    ]
    return sorted(found, key=lambda c: (c.stack_display, c.claim_id))


def count_by_verdict(claims: list[Claim]) -> str:
    """``2 live, 1 stale``; ``none`` without claims."""
    order = [v.value for v in Verdict] + ["not judged"]
    counts = {verdict: sum(1 for c in claims if c.verdict == verdict) for verdict in order}
    return ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if n) or "none"


def uncertain_notes(claims: list[Claim]) -> list[str]:
    """One note per claim CloudFormation could not confirm or deny: the sweep keeps those."""
    return [
        f"{c.role}: the claim {c.claim_id} of {c.stack_display} could not be checked "
        f"({c.check.why}); the sweep keeps it."
        for c in claims
        if c.check is not None and c.verdict == "uncertain"
    ]
