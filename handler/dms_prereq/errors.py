"""Errors a stack author can act on, and the one place AWS errors become them.

Every exception raised to CloudFormation is a :class:`ProvisioningError` whose
``str()`` is a single sentence of at most 256 characters: which role, which
property, which permission. botocore's ``ClientError`` is translated here and
nowhere else.
"""

from __future__ import annotations

import re

from botocore.exceptions import BotoCoreError, ClientError

from .ownership import MAX_TAGS_PER_ROLE

MAX_REASON = 256


def _sentence(text: str) -> str:
    """One line, at most MAX_REASON characters, cut at the end with an ellipsis."""
    text = " ".join(text.split())
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 1].rstrip() + "…"
    return text


def quoted(value: object) -> str:
    """A value quoted for a reason, kept short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


class ProvisioningError(Exception):
    """Something the request cannot do; the message is the FAILED reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(_sentence(reason))

    @property
    def reason(self) -> str:
        return str(self.args[0])


class InvalidRequest(ProvisioningError):
    """The request or its ResourceProperties are malformed."""


class InvalidSetting(ProvisioningError):
    """A parameter of the deployment (an account setting) is malformed."""


class RoleConflict(ProvisioningError):
    """A role exists in a state this project must not change."""


class AwsError(ProvisioningError):
    """An IAM call failed in a way retrying will not fix."""

    def __init__(self, reason: str, code: str = "", detail: str = "") -> None:
        super().__init__(reason)
        self.code = code
        #: AWS's own message, whole (the reason may be cut to fit CloudFormation's limit).
        self.detail = detail


class NotFound(AwsError):
    """NoSuchEntity: the role (or the policy named) does not exist."""


class AlreadyExists(AwsError):
    """EntityAlreadyExists: CreateRole found a role of that name."""


class DeleteConflict(AwsError):
    """DeleteConflict: the role still carries policies or instance profiles."""


class PermissionDenied(AwsError):
    """The function's own role lacks a permission."""


class MissingPolicy(AwsError):
    """NoSuchEntity about a policy (a boundary or a managed policy), not about the role."""

    def __init__(self, reason: str, code: str = "", policy: str = "") -> None:
        super().__init__(reason, code, policy)
        self.policy = policy


class Transient(AwsError):
    """A write IAM refused for now (409 ConcurrentModification, EntityTemporarilyUnmodifiable).

    botocore's standard retry mode does not retry these codes; :mod:`dms_prereq.iam`
    does, with back-off, and reports them only when they never stop.
    """


_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
#: IAM API reference, "Common Errors" and each write action's Errors section.
_TRANSIENT = {"ConcurrentModification", "EntityTemporarilyUnmodifiable"}
_BY_CODE: dict[str, type[AwsError]] = {
    "NoSuchEntity": NotFound,
    "EntityAlreadyExists": AlreadyExists,
    "DeleteConflict": DeleteConflict,
}
_POLICY_ARN = re.compile(r"arn:[\w-]+:iam::(?:\d{12}|aws):policy/[\w+=,.@/-]+")


def _which_limit(message: str) -> str:
    """LimitExceeded covers several IAM quotas; say which one the message is about."""
    lowered = message.lower()
    if "tag" in lowered:
        return (
            f"a role holds at most {MAX_TAGS_PER_ROLE} tags, so remove unused tags "
            "(or stale claims: dms-prereq-roles prune)"
        )
    if "polic" in lowered:
        return "a role holds at most 10 managed policies by default; detach one it does not need"
    if "role" in lowered:
        return "the account has reached its quota of IAM roles; delete unused roles"
    return "see IAM's quotas"


def translate(error: Exception, action: str, target: str, service: str = "iam") -> AwsError:
    """The domain error for a failed ``<service>:<action>`` on ``target``."""
    call = f"{service}:{action} on {target}"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        message = str(error.response.get("Error", {}).get("Message", ""))
        if code in _ACCESS_DENIED:
            return PermissionDenied(
                f"The function's execution role is not allowed {service}:{action} on {target}; "
                "grant it in the function's policy (see template.yaml).",
                code,
            )
        if code == "LimitExceeded":
            return AwsError(
                f"{call} hit an IAM limit ({message.rstrip('.')}); {_which_limit(message)}.",
                code,
            )
        if code in _TRANSIENT:
            return Transient(f"{call} kept failing with {code}: {message}", code)
        if code == "NoSuchEntity":
            policy = _POLICY_ARN.search(message)
            if policy:
                return MissingPolicy(
                    f"The policy {policy.group(0)} does not exist, so {call} cannot use it.",
                    code,
                    policy.group(0),
                )
        cls = _BY_CODE.get(code, AwsError)
        return cls(f"{call} failed with {code}: {message}", code, message)
    if isinstance(error, BotoCoreError):
        return AwsError(
            f"{call} could not reach {service.upper()} after retries ({error}).",
            type(error).__name__,
        )
    return AwsError(f"{call} failed unexpectedly ({error!r}).", type(error).__name__)
