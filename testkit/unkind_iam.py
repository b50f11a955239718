"""``UnkindIam``: a loopback proxy that makes moto_server's IAM behave as the real service does.

moto is kinder than IAM (the project's toolchain notes, "Where moto is kinder
than AWS"): its reads are always current, it never answers 409, it keeps
``Owner`` and ``owner`` as two tags, accepts ``aws:`` tags and missing boundary
policies, and counts 50 tags per request rather than per role. Yet moto_server
is also *less* reliable than IAM in one way: it serves requests on threads, and
two TagRole calls at once can lose one's change, which IAM never does.

The proxy sits between boto3 and moto_server (point ``AWS_ENDPOINT_URL_IAM`` or
``endpoint_url`` at :attr:`UnkindIam.url`, from any process) and, each
switchable by a keyword argument:

1. forwards one call at a time under a lock, so no write is lost or torn;
2. answers role reads (GetRole, ListRoleTags, ListAttachedRolePolicies,
   ListRolePolicies, ListInstanceProfilesForRole, and an unpaged ListRoles)
   from a view up to ``max_lag`` seconds old, drawn per call;
3. answers ``ConcurrentModification`` / ``EntityTemporarilyUnmodifiable``
   (409) to a share ``conflict_rate`` of writes, and always to a write that
   overlaps another write to the same role (each is held ``write_latency``);
4. treats tags as IAM does: keys case-insensitive with case preserved, no
   ``aws:`` prefix, at most ``tags_per_role`` on a role across calls;
5. answers the role's unique id in GetRole's ``Arn`` for ``arn_lag`` seconds
   after CreateRole;
6. refuses a permissions boundary that names a missing policy (NoSuchEntity);
7. keeps the path in role ARNs; refuses a role name that differs from an
   existing one only by case; caps managed policies per role.

Everything is counted (:meth:`UnkindIam.stats`). Nothing here verifies
signatures or permissions: that is not what it stands in for.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from testkit import REGION
from testkit.loopback import LoopbackServer
from testkit.unkind_iam_query import (
    QueryRequest,
    Reply,
    arn_as_unique_id,
    error_reply,
    fix_role_arn_paths,
    forward,
    is_truncated,
    new_request_id,
    parse_tags,
    parse_texts,
)

__all__ = ["CONFLICT_CODES", "UnkindIam", "UnkindSettings", "unkind_iam"]

#: Reads of one role that IAM may answer from an outdated view.
ROLE_READS = (
    "GetRole",
    "ListRoleTags",
    "ListAttachedRolePolicies",
    "ListRolePolicies",
    "ListInstanceProfilesForRole",
)
#: Writes that change what ListRoles shows (it lists no tags, boundaries or policies:
#: IAM API reference, ListRoles, "PermissionsBoundary, RoleLastUsed, Tags ... not returned").
LISTED_ROLE_WRITES = frozenset(
    {"CreateRole", "DeleteRole", "UpdateAssumeRolePolicy", "UpdateRole", "UpdateRoleDescription"}
)
#: A paged or filtered read cannot be answered from a view taken unpaged: it goes live.
_PAGING = frozenset({"Marker", "MaxItems", "PathPrefix"})
_READ_PREFIXES = ("Get", "List", "Simulate")
#: Past this many remembered roles, every role's history is pruned at the next write.
_HISTORY_SWEEP = 256
#: History key of the account-wide ListRoles view ("\0" cannot be in a role name).
_ALL_ROLES = "\0ListRoles"
#: Error codes that a conflict may be answered with (botocore's IAM service model gives
#: both HTTP 409). botocore's standard retry mode retries neither: its retryable codes
#: are throttling and transient ones (botocore/retries/standard.py).
CONFLICT_CODES = ("ConcurrentModification", "EntityTemporarilyUnmodifiable")
_CONFLICT_MESSAGES = {
    # How the IAM API reference describes each exception (IAM's real messages vary).
    "ConcurrentModification": (
        "The request was rejected because multiple requests to change this object were "
        "submitted simultaneously. Wait a few minutes and submit your request again."
    ),
    "EntityTemporarilyUnmodifiable": (
        "The request was rejected because it referenced an entity that is temporarily "
        "unmodifiable. The request is likely to succeed if you try again after waiting "
        "several minutes."
    ),
}


class _HasUrl(Protocol):
    url: str


@dataclass(frozen=True)
class UnkindSettings:
    """How unkind the proxy is; every field is a keyword of UnkindIam() and configure()."""

    #: Reads of a recently written role see a view ``lag`` seconds old, lag drawn
    #: uniformly in [min_lag, max_lag] per call. ``max_lag=0`` serves every read live.
    max_lag: float = 3.0
    min_lag: float = 0.0
    #: GetRole answers the unique id as ``Arn`` for this long after CreateRole (0: never).
    arn_lag: float = 2.0
    #: Each write is held this long before it commits; its role is busy meanwhile.
    write_latency: float = 0.02
    #: Share of writes answered with a 409 from ``conflict_codes`` before anything commits.
    conflict_rate: float = 0.0
    conflict_codes: tuple[str, ...] = CONFLICT_CODES
    #: Seeds the draws of lags and conflicts (None: different every run).
    seed: int | str | None = None
    #: Role tag keys case-insensitive (case preserved), no ``aws:`` prefix, no two keys
    #: of one request equal ignoring case.
    tag_rules: bool = True
    #: Tags a role may hold across all calls (None: moto's per-request check only).
    tags_per_role: int | None = 50
    #: Managed policies attached to a role (IAM quotas page: default 10, adjustable to 20).
    policies_per_role: int | None = 10
    #: A permissions boundary must name an existing policy.
    check_boundary: bool = True
    #: Role names unique ignoring case.
    role_name_case: bool = True
    #: Role ARNs include the role's path.
    fix_arn_path: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.min_lag <= self.max_lag:
            raise ValueError(f"need 0 <= min_lag <= max_lag, got {self.min_lag}, {self.max_lag}")
        if self.arn_lag < 0 or self.write_latency < 0:
            raise ValueError("arn_lag and write_latency cannot be negative")
        if not 0 <= self.conflict_rate <= 1:
            raise ValueError(f"conflict_rate must be within [0, 1], got {self.conflict_rate}")
        unknown = set(self.conflict_codes) - set(CONFLICT_CODES)
        if not self.conflict_codes or unknown:
            raise ValueError(f"conflict_codes must be some of {CONFLICT_CODES}")


@dataclass
class _View:
    """moto's answers to the reads of one role (or to ListRoles) as of ``at``."""

    at: float
    replies: dict[str, Reply]


@dataclass
class _Stats:
    requests: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    reads: int = 0
    writes: int = 0
    writes_committed: int = 0
    lagged_reads: int = 0
    stale_reads: int = 0
    stale_reads_by_action: Counter[str] = field(default_factory=Counter)
    reads_missing_existing_role: int = 0
    max_staleness_seconds: float = 0.0
    max_lag_drawn_seconds: float = 0.0
    conflicts: Counter[str] = field(default_factory=Counter)
    conflicts_by_code: Counter[str] = field(default_factory=Counter)
    tag_case_merges: int = 0
    untag_case_matches: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    arn_as_unique_id: int = 0
    arn_paths_fixed: int = 0


class UnkindIam(LoopbackServer):
    """A loopback HTTP proxy in front of moto_server that is at least as unkind as IAM.

    ``upstream`` is moto_server's URL (or anything with a ``url``, such as
    ``testkit.local_aws.MotoServer``). Keyword arguments are :class:`UnkindSettings`
    fields. ``url`` is known at once; :meth:`start` begins serving.
    """

    def __init__(self, upstream: str | _HasUrl, *, port: int = 0, **settings: Any) -> None:
        base = upstream if isinstance(upstream, str) else upstream.url
        parts = urllib.parse.urlsplit(base)
        self._upstream_url = base.rstrip("/")
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._settings = UnkindSettings(**settings)
        # Two locks, always taken in this order when both are held: ``_upstream_lock``
        # makes moto see one call at a time; ``_state`` guards the proxy's own tables
        # and is never held while waiting for moto.
        self._upstream_lock = threading.Lock()
        self._state = threading.Lock()
        self._history: dict[str, list[_View]] = {}
        self._busy: set[str] = set()
        self._created_at: dict[str, float] = {}
        self._stats = _Stats()
        self._lag_rng = random.Random()
        self._conflict_rng = random.Random()
        self._seed_draws(self._settings.seed)
        super().__init__(port)

    thread_name = "unkind-iam"

    def crashed(self, error: Exception) -> Reply:
        """A proxy bug must reach the test as an IAM error, not hang it."""
        return error_reply(500, "ServiceFailure", f"unkind stand-in failed: {error!r}")

    def env(self) -> dict[str, str]:
        """Environment that points boto3 in a worker process at this proxy."""
        return {
            "AWS_ENDPOINT_URL_IAM": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    # -- settings and reports ----------------------------------------------------------
    @property
    def settings(self) -> UnkindSettings:
        return self._settings

    def configure(
        self, settings: UnkindSettings | None = None, /, **changes: Any
    ) -> UnkindSettings:
        """Change settings between (or during) tests: ``configure(max_lag=0)`` changes one,
        ``configure(UnkindSettings(...))`` replaces them all. A ``seed`` restarts the draws."""
        with self._state:
            self._settings = replace(settings or self._settings, **changes)
            if settings is not None or "seed" in changes:
                self._seed_draws(self._settings.seed)
            return self._settings

    def reset(self, *, moto: bool = True) -> None:
        """Forget every view, creation time and count; with ``moto``, empty moto too.

        Emptying moto makes its next IAM call reload the AWS managed policies (about
        a second); ``moto=False`` keeps its roles and only clears the proxy's state.
        """
        if moto:
            with self._upstream_lock:
                request = urllib.request.Request(
                    f"{self._upstream_url}/moto-api/reset", method="POST"
                )
                urllib.request.urlopen(request, timeout=30).close()
        with self._state:
            self._history.clear()
            self._created_at.clear()
            self._stats = _Stats()
            self._seed_draws(self._settings.seed)

    def stats(self) -> dict[str, Any]:
        """What the proxy did so far: calls, stale reads, conflicts, merges, refusals."""
        with self._state:
            # Not dataclasses.asdict: it rebuilds a Counter from its items, counting pairs.
            return {
                item.name: dict(value) if isinstance(value, Counter) else value
                for item in fields(self._stats)
                for value in [getattr(self._stats, item.name)]
            }

    def _seed_draws(self, seed: int | str | None) -> None:
        # Two streams, so that turning conflicts on does not change the lags drawn.
        self._lag_rng.seed(None if seed is None else f"lag:{seed}")
        self._conflict_rng.seed(None if seed is None else f"conflict:{seed}")

    # -- dispatch ----------------------------------------------------------------------
    @property
    def forwarded(self) -> int:
        """Requests served so far (AtomicProxy's counter, for suites moving over)."""
        with self._state:
            return self._stats.requests

    def handle(self, request: QueryRequest) -> Reply:
        with self._state:
            self._stats.requests += 1
        action = request.action
        if action is None:  # not an IAM call (moto-api, health checks): pass it through
            return self._forward(request)
        with self._state:
            self._stats.calls[action] += 1
        if action.startswith(_READ_PREFIXES):
            reply = self._read(request, action)
        else:
            reply = self._write(request, action)
        return reply.with_request_id(new_request_id())

    def _forward(self, request: QueryRequest) -> Reply:
        with self._upstream_lock:
            return self._send(request)

    def _send(self, request: QueryRequest) -> Reply:
        """One call to moto; the caller holds ``_upstream_lock``."""
        assert self._upstream_lock.locked()
        return forward(self._upstream, request)

    # -- reads -------------------------------------------------------------------------
    def _read(self, request: QueryRequest, action: str) -> Reply:
        with self._state:
            self._stats.reads += 1
        role = request.get("RoleName")
        key: str | None = None
        if action in ROLE_READS and role and not request.has_any(_PAGING):
            key = role.lower()
        elif action == "ListRoles" and not request.has_any(_PAGING):
            key = _ALL_ROLES
        reply = self._lagged(key, action) if key is not None else None
        if reply is None:
            reply = self._forward(request)
        if reply.ok and action in ("GetRole", "ListRoles"):
            reply = self._shape_roles(reply, role.lower() if action == "GetRole" and role else None)
        return reply

    def _lagged(self, key: str, action: str) -> Reply | None:
        """The answer of a view as old as a lag drawn now, or None to read moto live.

        IAM "is eventually consistent ... changes are not always immediately visible"
        (IAM user guide, "Troubleshoot IAM", changes I make are not always immediately
        visible): a read may miss writes made seconds earlier, even by the same caller.
        """
        with self._state:
            now = time.monotonic()
            views = self._prune(key, now)
            if not views:
                return None  # no recent write through the proxy: moto is as current as IAM
            settings = self._settings
            lag = self._lag_rng.uniform(settings.min_lag, settings.max_lag)
            index = 0  # before the first view the proxy took, the earliest is the best known
            for position, view in enumerate(views):
                if view.at <= now - lag:
                    index = position
            reply = views[index].replies.get(action)
            if reply is None:
                return None
            stats = self._stats
            stats.lagged_reads += 1
            stats.max_lag_drawn_seconds = max(stats.max_lag_drawn_seconds, lag)
            if index < len(views) - 1:
                stats.stale_reads += 1
                stats.stale_reads_by_action[action] += 1
                staleness = now - views[index + 1].at
                stats.max_staleness_seconds = max(stats.max_staleness_seconds, staleness)
                newest = views[-1].replies.get(action)
                if reply.status == 404 and newest is not None and newest.ok:
                    stats.reads_missing_existing_role += 1
            return reply

    def _prune(self, key: str, now: float) -> list[_View]:
        """Drop views no read can be given any more; caller holds ``_state``."""
        views = self._history.get(key)
        if not views:
            return []
        horizon = now - self._settings.max_lag
        while len(views) >= 2 and views[1].at <= horizon:
            views.pop(0)
        if views[0].at <= horizon and len(views) == 1:
            del self._history[key]  # every read now sees the newest state: serve it live
            return []
        return views

    def _shape_roles(self, reply: Reply, created_key: str | None) -> Reply:
        text = reply.text
        if self._settings.fix_arn_path:
            text, fixed = fix_role_arn_paths(text)
            if fixed:
                with self._state:
                    self._stats.arn_paths_fixed += fixed
        if created_key is not None:
            with self._state:
                created = self._created_at.get(created_key)
                young = created is not None and time.monotonic() - created < self._settings.arn_lag
                if young:
                    self._stats.arn_as_unique_id += 1
            if young:
                text = arn_as_unique_id(text)
        return reply.with_text(text) if text != reply.text else reply

    # -- writes ------------------------------------------------------------------------
    def _write(self, request: QueryRequest, action: str) -> Reply:
        role = request.get("RoleName")
        key = role.lower() if role else None  # IAM names are not distinguished by case
        refusal = self._refuse_input(request, action)
        if refusal is not None:
            return refusal
        with self._state:
            self._stats.writes += 1
            settings = self._settings
            if key is not None and key in self._busy:
                return self._conflict("overlap", "ConcurrentModification", role or action)
            if settings.conflict_rate and self._conflict_rng.random() < settings.conflict_rate:
                code = self._conflict_rng.choice(settings.conflict_codes)
                return self._conflict("injected", code, role or action)
            if key is not None:
                self._busy.add(key)
        try:
            if settings.write_latency:
                time.sleep(settings.write_latency)
            with self._upstream_lock:
                reply = self._commit(request, action, role, key)
        finally:
            if key is not None:
                with self._state:
                    self._busy.discard(key)
        if reply.ok:
            with self._state:
                self._stats.writes_committed += 1
        return reply

    def _conflict(self, cause: str, code: str, subject: str) -> Reply:
        """A 409 decided before anything reached moto; caller holds ``_state``."""
        self._stats.conflicts[cause] += 1
        self._stats.conflicts_by_code[code] += 1
        message = f"{_CONFLICT_MESSAGES[code]} (unkind stand-in: {cause}, {subject})"
        return error_reply(409, code, message)

    def _refuse(self, reason: str, status: int, code: str, message: str) -> Reply:
        with self._state:
            self._stats.refusals[reason] += 1
        return error_reply(status, code, message)

    def _refuse_input(self, request: QueryRequest, action: str) -> Reply | None:
        """Refusals that need only the request (IAM validates input before anything else)."""
        if not self._settings.tag_rules:
            return None
        if action in ("CreateRole", "TagRole"):
            pairs = request.tags()
            texts = [text for pair in pairs for text in pair]
        elif action == "UntagRole":
            pairs = []
            texts = request.members("TagKeys")
        else:
            return None
        # "You cannot create a tag key or value that begins with the text aws:. This tag
        # prefix is reserved for AWS internal use" (IAM user guide, "Tagging IAM
        # resources", rules); reserved in any case (awsdocs/amazon-ecs-developer-guide #72),
        # and tags with it cannot be edited or deleted either (Tagging AWS resources,
        # "Tag naming limits and requirements"). TagRole's only 400 is InvalidInput.
        reserved = next((text for text in texts if text.lower().startswith("aws:")), None)
        if reserved is not None:
            return self._refuse(
                "aws_prefix",
                400,
                "InvalidInput",
                f"Tag keys and values cannot begin with the reserved prefix 'aws:': '{reserved}'.",
            )
        lowered = [key.lower() for key, _ in pairs]
        if len(set(lowered)) < len(lowered):
            # IAM's own words for it (quoted in terraform-aws-github-runner PR #1346).
            return self._refuse(
                "duplicate_tag_keys",
                400,
                "InvalidInput",
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            )
        return None

    def _commit(
        self, request: QueryRequest, action: str, role: str | None, key: str | None
    ) -> Reply:
        """Check against moto's state, forward, record views; caller holds the upstream lock."""
        settings = self._settings
        keep_views = key is not None and role is not None and settings.max_lag > 0
        list_views = action in LISTED_ROLE_WRITES and settings.max_lag > 0
        started = time.monotonic()
        # The first write in a while to a role: remember how it looked before, so that a
        # lagged read can still be answered with it.
        if keep_views and key is not None and role is not None and not self._remembers(key):
            self._remember(key, started, self._role_view(request, role))
        if list_views and not self._remembers(_ALL_ROLES):
            self._remember(_ALL_ROLES, started, self._list_view(request))
        refusal = self._refuse_against_state(request, action, role)
        if refusal is not None:
            return refusal
        if action == "TagRole" and role is not None:
            reply = self._tag_role(request, role)
        elif action == "UntagRole" and role is not None and settings.tag_rules:
            reply = self._send(self._untag_request(request, role))
        else:
            reply = self._send(request)
        if not reply.ok:
            return reply
        committed = time.monotonic()
        if keep_views and key is not None and role is not None:
            self._remember(key, committed, self._role_view(request, role))
        if list_views:
            self._remember(_ALL_ROLES, committed, self._list_view(request))
        if action == "CreateRole" and key is not None:
            with self._state:
                self._created_at[key] = committed
                self._forget_old_creations(committed)
            if settings.fix_arn_path:
                text, fixed = fix_role_arn_paths(reply.text)
                if fixed:
                    with self._state:
                        self._stats.arn_paths_fixed += fixed
                    reply = reply.with_text(text)
        return reply

    def _refuse_against_state(
        self, request: QueryRequest, action: str, role: str | None
    ) -> Reply | None:
        settings = self._settings
        if action == "CreateRole" and role and settings.role_name_case:
            # "Names of users, groups, roles, and instance profiles must be unique within
            # the account. They are not distinguished by case" (IAM user guide, "IAM and
            # AWS STS quotas", name requirements). moto compares them exactly.
            twin = next(
                (
                    name
                    for name in self._role_names(request)
                    if name.lower() == role.lower() and name != role
                ),
                None,
            )
            if twin is not None:
                return self._refuse(
                    "role_name_case",
                    409,
                    "EntityAlreadyExists",
                    f"Role with name {role} already exists.",
                )
        boundary = request.get("PermissionsBoundary")
        sets_boundary = action in ("CreateRole", "PutRolePermissionsBoundary")
        checks_boundary = sets_boundary and boundary and settings.check_boundary
        if checks_boundary and boundary and self._missing_policy(request, boundary):
            # IAM answers NoSuchEntity about the policy (PutRolePermissionsBoundary lists
            # NoSuchEntity in the IAM API reference); moto accepts it silently. The
            # message follows IAM's wording for AttachRolePolicy.
            return self._refuse(
                "missing_boundary",
                404,
                "NoSuchEntity",
                f"Policy {boundary} does not exist or is not attachable.",
            )
        policy = request.get("PolicyArn")
        if action == "AttachRolePolicy" and role and policy and settings.policies_per_role:
            attached = self._attached(request, role) or []
            if policy not in attached and len(attached) >= settings.policies_per_role:
                # "Managed policies attached to an IAM role: 10" by default (IAM user
                # guide, "IAM and AWS STS quotas"); IAM's message names the quota, as
                # in "Cannot exceed quota for PoliciesPerRole: 15"
                # (ministryofjustice/cloud-platform-environments PR #14118).
                return self._refuse(
                    "policies_per_role",
                    409,
                    "LimitExceeded",
                    f"Cannot exceed quota for PoliciesPerRole: {settings.policies_per_role}",
                )
        return None

    def _tag_role(self, request: QueryRequest, role: str) -> Reply:
        """TagRole with IAM's key rules; caller holds the upstream lock."""
        settings = self._settings
        wanted = request.tags()
        current = self._current_tags(request, role)
        if current is None or len(wanted) > 50:
            # No such role, or more than the 50 members the API model allows in one call:
            # moto answers these (NoSuchEntity, ValidationError) as IAM would.
            return self._send(request)
        existing = {key.lower(): key for key, _ in current}
        if settings.tag_rules:
            after = set(existing) | {key.lower() for key, _ in wanted}
        else:
            after = {key for key, _ in current} | {key for key, _ in wanted}
        limit = settings.tags_per_role
        if limit is not None and len(after) > limit:
            # "Tags that can be attached to an IAM role: 50" counts the role's tags, not
            # the request's (IAM user guide, "IAM and AWS STS quotas"); "If ... you exceed
            # the allowed maximum number of tags, then the entire request fails" (IAM API
            # reference, TagRole). TagRole's quota error is LimitExceeded (409).
            return self._refuse(
                "tags_per_role",
                409,
                "LimitExceeded",
                f"Cannot exceed quota for TagsPerRole: {limit} "
                f"(role {role} would hold {len(after)} tags).",
            )
        reply = self._send(request)
        if not reply.ok or not settings.tag_rules:
            return reply
        # "Tag key values for IAM users and roles are not case sensitive, but case is
        # preserved ... If you have tagged a user with the Department=finance tag and you
        # add the department=hr tag, it replaces the first tag. A second tag is not
        # added." (IAM user guide, "Tagging IAM resources", case sensitivity). moto keeps
        # both, so the older spelling is removed right after, still under the lock.
        displaced = [
            existing[key.lower()]
            for key, _ in wanted
            if key.lower() in existing and existing[key.lower()] != key
        ]
        if displaced:
            fields = {f"TagKeys.member.{n}": key for n, key in enumerate(displaced, start=1)}
            self._send(QueryRequest.crafted(request, "UntagRole", RoleName=role, **fields))
            with self._state:
                self._stats.tag_case_merges += len(displaced)
        return reply

    def _untag_request(self, request: QueryRequest, role: str) -> QueryRequest:
        """UntagRole names keys ignoring case: spell them as the role holds them."""
        current = self._current_tags(request, role)
        if current is None:
            return request
        held = {key.lower(): key for key, _ in current}
        asked = request.members("TagKeys")
        spelled = [held.get(key.lower(), key) for key in asked]
        changed = sum(1 for a, b in zip(asked, spelled, strict=True) if a != b)
        if not changed:
            return request
        with self._state:
            self._stats.untag_case_matches += changed
        return request.with_members("TagKeys", spelled)

    # -- moto's state, asked by the proxy itself (caller holds the upstream lock) --------
    def _current_tags(self, request: QueryRequest, role: str) -> list[tuple[str, str]] | None:
        reply = self._send(
            QueryRequest.crafted(request, "ListRoleTags", RoleName=role, MaxItems="1000")
        )
        return parse_tags(reply) if reply.ok else None

    def _attached(self, request: QueryRequest, role: str) -> list[str] | None:
        reply = self._send(
            QueryRequest.crafted(
                request, "ListAttachedRolePolicies", RoleName=role, MaxItems="1000"
            )
        )
        return parse_texts(reply, "PolicyArn") if reply.ok else None

    def _missing_policy(self, request: QueryRequest, policy_arn: str) -> bool:
        reply = self._send(QueryRequest.crafted(request, "GetPolicy", PolicyArn=policy_arn))
        return reply.status == 404

    def _role_names(self, request: QueryRequest) -> list[str]:
        names: list[str] = []
        marker: str | None = None
        while True:
            fields = {"MaxItems": "1000", **({"Marker": marker} if marker else {})}
            reply = self._send(QueryRequest.crafted(request, "ListRoles", **fields))
            if not reply.ok:
                return names
            names += parse_texts(reply, "RoleName")
            marker = is_truncated(reply)
            if marker is None:
                return names

    def _role_view(self, request: QueryRequest, role: str) -> dict[str, Reply]:
        return {
            action: self._send(QueryRequest.crafted(request, action, RoleName=role))
            for action in ROLE_READS
        }

    def _list_view(self, request: QueryRequest) -> dict[str, Reply]:
        return {"ListRoles": self._send(QueryRequest.crafted(request, "ListRoles"))}

    # -- the proxy's memory -------------------------------------------------------------
    def _remembers(self, key: str) -> bool:
        with self._state:
            return bool(self._prune(key, time.monotonic()))

    def _remember(self, key: str, at: float, replies: dict[str, Reply]) -> None:
        with self._state:
            self._history.setdefault(key, []).append(_View(at, replies))
            if len(self._history) > _HISTORY_SWEEP:
                # Roles written once and never read again would otherwise stay forever.
                for other in list(self._history):
                    self._prune(other, at)

    def _forget_old_creations(self, now: float) -> None:
        """Caller holds ``_state``."""
        horizon = now - self._settings.arn_lag
        for key in [k for k, at in self._created_at.items() if at <= horizon]:
            del self._created_at[key]


@contextmanager
def unkind_iam(**settings: Any) -> Iterator[UnkindIam]:
    """A fresh moto_server (managed policies loaded) with an UnkindIam in front, started."""
    from testkit.local_aws import MotoServer

    moto = MotoServer().start()
    try:
        with UnkindIam(moto, **settings) as proxy:
            yield proxy
    finally:
        moto.stop()
