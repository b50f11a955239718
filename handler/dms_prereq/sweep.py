"""The sweep: releases claims of resources CloudFormation no longer has, and deletes roles
nobody needs, as AWS itself deletes a service-linked role.

CloudFormation requests only add claims or remove their own (:mod:`dms_prereq.roles`).
What no request can do safely is done here, on a schedule, by asking
CloudFormation which stacks still exist (:mod:`dms_prereq.stacks`) and DMS what
still uses the roles (:mod:`dms_prereq.dms_usage`). For each of the three roles:

1. release stale claims (the resource is gone from its stack); anything
   uncertain keeps the claim;
2. on a role without claims, mark a role this project created
   ``unclaimed-since``, or remove this project's tags from a role it adopted;
   on a role with claims, remove the sweep's marks;
3. delete a role this project created only when it has been unclaimed for the
   retention, IAM has not seen it used for as long, DMS has nothing that uses
   it in any region asked, and nothing else is on it;
4. re-attach the managed policy of a claimed role that lost it, and bring the
   roles this project created to the account settings (boundary, tags).

Deleting is two phases, each ending when any claim written before it must be
visible (``SWEEP_SETTLE_SECONDS``, longer than IAM's read lag):

* mark ``deleting-since``, settle, re-read: a claim stops everything (nothing
  was detached yet);
* detach the policy this project attached, settle, re-read: a claim re-attaches
  the policy and stops; otherwise DeleteRole, which IAM refuses while any policy
  is attached.

Why no claimant that was answered SUCCESS loses its role or its policy, given
reads that lag at most 3/8 of the settle time (22.5 s at the default 60 s): a
claimant tags its claim, then attaches the policy, then answers. If it tagged
before the second re-read minus the lag, that re-read sees the claim and the
sweep re-attaches. If it tagged later, its attach comes after the detach (the
detach precedes the second settle, which is longer than the lag), so
DeleteRole meets the attached policy and fails with DeleteConflict (the sweep
then re-attaches and removes its marks), or the role is already gone, and the
claimant's attach fails and it creates the role afresh. A second sweep that
detaches after a claimant's attach is the one remaining hazard: a claimant
whose read shows ``deleting-since``, or whose claim took longer than a quarter
of the settle time, waits out the settle time and attaches once more before it
answers. One that neither saw the mark nor took that long tagged within lag +
settle/4 of the mark, which the sweep's first re-read sees as long as lag +
settle/4 <= settle - lag. The argument takes the detach to land right after the
first re-read: one that returns later than half a settle time after it (held up
by retries) gives the policy back at once and leaves the deletion to the next
sweep. And a claimant tags its claim again after its attach, in case the role
its first tag landed on was deleted and made anew by another stack meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from . import iam as api
from .catalogue import ROLES, RoleSpec
from .dms_usage import DmsSurvey
from .errors import DeleteConflict, NotFound, ProvisioningError
from .iam import IAMClient, RoleState
from .ownership import (
    DELETING_SINCE_KEY,
    ROLE_TAGS_KEY,
    UNCLAIMED_SINCE_KEY,
    Origin,
    Ownership,
    claim_key,
    find_key,
    is_ours,
    role_tags_mark,
)
from .settings import AccountSettings
from .stacks import ClaimCheck, StackLookup, Verdict

log = logging.getLogger(__name__)


class Kept(StrEnum):
    """Why a role this project created stays (a metric dimension)."""

    CLAIMED = "claimed"
    RETENTION = "within retention"
    NEVER = "retention Never"
    RECENTLY_USED = "recently used"
    DMS_USES_IT = "DMS uses it"
    UNCERTAIN = "uncertain"
    OTHER_HOLDS = "carries something else"
    CLAIMED_MEANWHILE = "claimed meanwhile"
    LATE_DETACH = "detach came late"
    CHANGING = "changing under the sweep"
    DELETE_CONFLICT = "DeleteConflict"
    DRY_RUN = "dry run"


@dataclass
class RoleReport:
    """What the sweep found and did for one role."""

    role: str
    exists: bool = True
    origin: str = ""
    checks: dict[str, ClaimCheck] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    marked: bool = False
    unmarked: bool = False
    untagged_adopted: bool = False
    reattached: bool = False
    settings_applied: list[str] = field(default_factory=list)
    deleted: bool = False
    kept: Kept | None = None
    why: str = ""
    #: When the sweep may delete the role at the earliest, if nothing changes.
    deletable_after: datetime | None = None
    failed: str | None = None

    @property
    def live_claims(self) -> int:
        return sum(1 for c in self.checks.values() if c.verdict is not Verdict.STALE)


@dataclass
class SweepReport:
    roles: list[RoleReport]
    #: Region (or "iam") -> lookups that failed there, for the metric.
    failed_lookups: dict[str, int] = field(default_factory=dict)
    stacks_asked: int = 0
    apply: bool = True

    def count(self, attribute: str) -> int:
        return sum(1 for r in self.roles if getattr(r, attribute))

    @property
    def released(self) -> int:
        return sum(len(r.released) for r in self.roles)

    def summary(self) -> dict[str, object]:
        """The one summary log line's fields."""
        return {
            "apply": self.apply,
            "stale_claims_released": self.released,
            "roles_marked": self.count("marked"),
            "roles_deleted": self.count("deleted"),
            "roles_kept": {r.role: f"{r.kept.value}: {r.why}" for r in self.roles if r.kept},
            "policies_reattached": self.count("reattached"),
            "adopted_roles_untagged": self.count("untagged_adopted"),
            "settings_applied": {
                r.role: r.settings_applied for r in self.roles if r.settings_applied
            },
            "failed_lookups": self.failed_lookups,
            "stacks_asked": self.stacks_asked,
        }


@dataclass(frozen=True)
class Sweeper:
    """One sweep's collaborators: IAM, CloudFormation (per region), DMS (per region)."""

    iam: IAMClient
    stacks: StackLookup
    dms: DmsSurvey
    settings: AccountSettings
    partition: str
    #: Writes nothing when False (the CLI's dry run): the report says what it would do.
    apply: bool = True
    #: How the settle time is waited out (tests step through the phases with their own).
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def run(self) -> SweepReport:
        with ThreadPoolExecutor(max_workers=len(ROLES), thread_name_prefix="sweep") as pool:
            reports = list(pool.map(self._sweep_role_safely, ROLES))
        failed: dict[str, int] = {}
        for report in reports:
            for check in report.checks.values():
                if check.verdict is Verdict.UNCERTAIN and check.region:
                    failed[check.region] = failed.get(check.region, 0) + 1
            if report.failed:
                failed["iam"] = failed.get("iam", 0) + 1
        for region in self._dms_failures():
            failed[region] = failed.get(region, 0) + 1
        if self.dms.problem is not None:
            failed["ec2"] = failed.get("ec2", 0) + 1
        result = SweepReport(reports, failed, self.stacks.calls, self.apply)
        log.info("sweep finished", extra={"sweep": result.summary()})
        return result

    def _dms_failures(self) -> list[str]:
        asked = self.dms.asked()
        return [region for region, usage in asked.items() if usage.problem is not None]

    def _sweep_role_safely(self, role: RoleSpec) -> RoleReport:
        report = RoleReport(role.name)
        try:
            self._sweep_role(role, report)
        except NotFound:
            # One read showed the role, the next did not: it was made or deleted a moment
            # ago and IAM's reads disagree for a few seconds. Not a failed lookup: the next
            # sweep sees it settled.
            report.kept = report.kept or Kept.CHANGING
            report.why = report.why or "IAM's reads of it disagreed; the next sweep looks again"
        except ProvisioningError as error:
            # Anything uncertain keeps the role: stop here, the next sweep tries again.
            report.failed = str(error)
            report.kept = report.kept or Kept.UNCERTAIN
            report.why = report.why or str(error)
            log.warning("sweep of a role stopped", extra={"role": role.name, "reason": str(error)})
        return report

    def _sweep_role(self, role: RoleSpec, report: RoleReport) -> None:
        state = api.get_role(self.iam, role.name)
        if state is None:
            report.exists = False
            return
        owned = Ownership.of(state.tags)
        report.origin = owned.origin.value if owned.origin else ""
        if owned.origin is None and not owned.claims:
            return  # nothing of this project's on it
        report.checks = {cid: self.stacks.check(cid, value) for cid, value in owned.claims.items()}
        stale = [cid for cid, check in report.checks.items() if check.verdict is Verdict.STALE]
        if stale:
            keys = [find_key(state.tags, claim_key(cid)) or claim_key(cid) for cid in stale]
            self._write(api.untag_role, role.name, keys)
            report.released = stale
        policy = role.managed_policy_arn(self.partition)
        if report.live_claims:
            self._keep_claimed(role, state, owned, policy, report)
            return
        if owned.origin is not Origin.CREATED:
            # A role somebody else made, that nobody claims: leave it as it was found.
            self._write(api.untag_role, role.name, [k for k in state.tags if is_ours(k)])
            report.untagged_adopted = True
            return
        self._apply_settings(role, state, report)
        self._consider_deleting(role, state, owned, policy, report)

    def _keep_claimed(
        self, role: RoleSpec, state: RoleState, owned: Ownership, policy: str, report: RoleReport
    ) -> None:
        report.kept, report.why = Kept.CLAIMED, f"{report.live_claims} claim(s)"
        marks = [find_key(state.tags, k) for k in (UNCLAIMED_SINCE_KEY, DELETING_SINCE_KEY)]
        present = [k for k in marks if k is not None]
        if present and not owned.deleting_since:
            self._write(api.untag_role, role.name, present)
            report.unmarked = True
        # A role being deleted by another sweep: that sweep sees the claim on its re-read
        # and removes its own marks; re-attaching here is harmless either way.
        if policy not in api.attached_policies(self.iam, role.name):
            self._write(api.attach_policy, role.name, policy)
            report.reattached = True
        if owned.origin is Origin.CREATED:
            self._apply_settings(role, state, report)

    def _apply_settings(self, role: RoleSpec, state: RoleState, report: RoleReport) -> None:
        """Bring a role this project created to the account settings (boundary, tags)."""
        boundary = self.settings.boundary
        if boundary.arn and state.boundary != boundary.arn:
            self._write(api.put_boundary, role.name, boundary.arn)
            report.settings_applied.append("boundary set")
        elif boundary.remove and state.boundary:
            self._write(api.delete_boundary, role.name)
            report.settings_applied.append("boundary removed")
        wanted = self.settings.tag_dict
        add = {
            key: value
            for key, value in wanted.items()
            if state.tags.get(find_key(state.tags, key) or key) != value
        }
        named = {key.lower() for key in wanted}
        set_before = Ownership.of(state.tags).role_tags
        drop = [
            found
            for key in set_before
            if key.lower() not in named and (found := find_key(state.tags, key)) is not None
        ]
        mark = role_tags_mark(list(wanted))
        if state.tags.get(find_key(state.tags, ROLE_TAGS_KEY) or ROLE_TAGS_KEY) != mark.get(
            ROLE_TAGS_KEY
        ):
            if mark:
                add.update(mark)
            else:
                drop.append(find_key(state.tags, ROLE_TAGS_KEY) or ROLE_TAGS_KEY)
        if add:
            self._write(api.tag_role, role.name, add)
            report.settings_applied.append(f"tags set: {', '.join(sorted(add))}")
        if drop:
            self._write(api.untag_role, role.name, drop)
            report.settings_applied.append(f"tags removed: {', '.join(sorted(drop))}")

    def _consider_deleting(
        self, role: RoleSpec, state: RoleState, owned: Ownership, policy: str, report: RoleReport
    ) -> None:
        now = self.now()
        retention_minutes = self.settings.retention_minutes
        if owned.unclaimed_since is None:
            self._write(api.tag_role, role.name, {UNCLAIMED_SINCE_KEY: _stamp(now)})
            report.marked = True
            if retention_minutes is not None:
                report.deletable_after = now + timedelta(minutes=retention_minutes)
            report.kept, report.why = Kept.RETENTION, "marked unclaimed now"
            return
        if retention_minutes is None:
            report.kept, report.why = Kept.NEVER, "UnclaimedRoleRetentionMinutes is Never"
            return
        retention = timedelta(minutes=retention_minutes)
        since = _parse_stamp(owned.unclaimed_since)
        if since is None:
            # A mark this sweep cannot read: write a fresh one, so the retention starts now.
            self._write(api.tag_role, role.name, {UNCLAIMED_SINCE_KEY: _stamp(now)})
            report.kept, report.why = Kept.RETENTION, "unreadable unclaimed-since mark renewed"
            return
        last_used = state.last_used.get("LastUsedDate")
        report.deletable_after = max(
            since + retention,
            (last_used + retention) if isinstance(last_used, datetime) else since,
        )
        if now - since < retention:
            report.kept, report.why = Kept.RETENTION, f"unclaimed since {owned.unclaimed_since}"
            return
        if isinstance(last_used, datetime) and now - last_used < retention:
            report.kept, report.why = Kept.RECENTLY_USED, f"IAM saw it used at {_stamp(last_used)}"
            return
        usage = self.dms.usage_of(role)
        if usage.in_use:
            report.kept, report.why = Kept.DMS_USES_IT, usage.describe()
            report.deletable_after = None
            return
        if usage.unknown:
            where = ", ".join(f"{r} ({why})" for r, why in sorted(usage.unknown.items()))
            report.kept, report.why = Kept.UNCERTAIN, f"could not ask DMS in {where}"
            return
        others = api.other_holds(self.iam, role.name, policy)
        if others:
            report.kept, report.why = Kept.OTHER_HOLDS, ", ".join(others)
            log.info("role kept untouched", extra={"role": role.name, "why": report.why})
            return
        if not self.apply:
            report.kept, report.why = Kept.DRY_RUN, "would be deleted"
            return
        self._delete(role, policy, report)

    def _delete(self, role: RoleSpec, policy: str, report: RoleReport) -> None:
        """The two phases of the module docstring."""
        settle = float(self.settings.sweep_settle_seconds)
        api.tag_role(self.iam, role.name, {DELETING_SINCE_KEY: _stamp(self.now())})
        self.sleep(settle)
        reread_at = time.monotonic()
        if self._claimed_again(role, report, attached=True):
            return
        api.detach_policy(self.iam, role.name, policy)
        if settle and time.monotonic() - reread_at > settle / 2:
            # The detach was held up (retries, a frozen environment): it may have landed
            # after a claimant that met the mark attached again and was answered. Such a
            # claimant tagged no earlier than the re-read less the lag and attached again
            # a settle time later, so a detach within settle - lag (> settle/2, since the
            # lag is at most 3/8 of it) is safe; a later one proves nothing: give the
            # policy back at once.
            self._restore(role, policy)
            report.kept, report.why = Kept.LATE_DETACH, "the detach came late; next sweep"
            return
        self.sleep(settle)
        if self._claimed_again(role, report, attached=False, policy=policy):
            return
        try:
            api.delete_role(self.iam, role.name)
        except NotFound:
            pass  # another sweep deleted it
        except DeleteConflict:
            self._restore(role, policy)
            report.kept, report.why = Kept.DELETE_CONFLICT, "something was attached meanwhile"
            return
        report.deleted = True
        log.info("deleted role", extra={"role": role.name})

    def _claimed_again(
        self, role: RoleSpec, report: RoleReport, *, attached: bool, policy: str = ""
    ) -> bool:
        again = api.get_role(self.iam, role.name)
        if again is None:
            report.deleted = True  # another sweep got there first
            return True
        if not Ownership.of(again.tags).claims:
            return False
        if not attached:
            self._restore(role, policy)
        else:
            api.untag_role(self.iam, role.name, _marks(again))
        report.kept, report.why = Kept.CLAIMED_MEANWHILE, "a claim arrived during the deletion"
        return True

    def _restore(self, role: RoleSpec, policy: str) -> None:
        """Policy back first, then the marks off, so a role that stays is never without it."""
        api.attach_policy(self.iam, role.name, policy)
        again = api.get_role(self.iam, role.name)
        api.untag_role(self.iam, role.name, _marks(again) if again else [DELETING_SINCE_KEY])

    def _write(self, call: Callable[..., object], *args: object) -> None:
        if self.apply:
            call(self.iam, *args)


def _marks(state: RoleState) -> list[str]:
    found = (find_key(state.tags, k) for k in (UNCLAIMED_SINCE_KEY, DELETING_SINCE_KEY))
    return [k for k in found if k is not None]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
