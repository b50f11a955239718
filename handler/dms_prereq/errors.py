"""Errors a stack author can act on, and the one place AWS errors become them.

Every exception raised to CloudFormation is a :class:`ProvisioningError` whose
``str()`` is a single sentence of at most 256 characters: which role, which
property, which permission. botocore's ``ClientError`` is translated here and
nowhere else.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

MAX_REASON = 256


def _sentence(text: str) -> str:
    """One line, at most MAX_REASON characters, cut at the end with an ellipsis."""
    text = " ".join(text.split())
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 1].rstrip() + "…"
    return text


class ProvisioningError(Exception):
    """Something the request cannot do; the message is the FAILED reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(_sentence(reason))

    @property
    def reason(self) -> str:
        return str(self.args[0])


class InvalidRequest(ProvisioningError):
    """The request or its ResourceProperties are malformed."""


class RoleConflict(ProvisioningError):
    """A role exists in a state this project must not change."""


class AwsError(ProvisioningError):
    """An IAM call failed in a way retrying will not fix."""

    def __init__(self, reason: str, code: str = "") -> None:
        super().__init__(reason)
        self.code = code


class NotFound(AwsError):
    """NoSuchEntity: the role (or the policy named) does not exist."""


class AlreadyExists(AwsError):
    """EntityAlreadyExists: CreateRole found a role of that name."""


class DeleteConflict(AwsError):
    """DeleteConflict: the role still carries policies or instance profiles."""


class PermissionDenied(AwsError):
    """The function's own role lacks a permission."""


_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_BY_CODE: dict[str, type[AwsError]] = {
    "NoSuchEntity": NotFound,
    "EntityAlreadyExists": AlreadyExists,
    "DeleteConflict": DeleteConflict,
}


def translate(error: Exception, action: str, target: str) -> ProvisioningError:
    """The ProvisioningError for a failed ``iam:<action>`` on ``target``."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        message = str(error.response.get("Error", {}).get("Message", ""))
        if code in _ACCESS_DENIED:
            return PermissionDenied(
                f"The function's execution role is not allowed iam:{action} on {target}; "
                "grant it in the function's policy (see template.yaml).",
                code,
            )
        if code == "LimitExceeded":
            return AwsError(
                f"iam:{action} on {target} hit an IAM limit ({message.rstrip('.')}); "
                "a role holds at most 50 tags, so remove unused tags or claims.",
                code,
            )
        cls = _BY_CODE.get(code, AwsError)
        return cls(f"iam:{action} on {target} failed with {code}: {message}", code)
    if isinstance(error, BotoCoreError):
        return AwsError(
            f"iam:{action} on {target} could not reach IAM after retries ({error}).",
            type(error).__name__,
        )
    return ProvisioningError(f"iam:{action} on {target} failed unexpectedly ({error!r}).")
