"""errors.translate: every failed IAM call becomes one sentence a stack author can act on.

Pure: botocore's exceptions are built here as botocore builds them, no call made.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from dms_prereq.errors import (
    MAX_REASON,
    AlreadyExists,
    AwsError,
    DeleteConflict,
    NotFound,
    PermissionDenied,
    ProvisioningError,
    translate,
)
from dms_prereq.ownership import MAX_TAGS_PER_ROLE

ROLE = "dms-vpc-role"


def client_error(
    code: str, message: str = "It went wrong.", action: str = "CreateRole"
) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, action)


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"])
def test_a_denied_call_names_the_permission_to_grant(code: str) -> None:
    failure = translate(client_error(code), "TagRole", ROLE)

    assert isinstance(failure, PermissionDenied)
    assert failure.code == code
    assert "iam:TagRole on dms-vpc-role" in failure.reason
    assert "template.yaml" in failure.reason


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("NoSuchEntity", NotFound),
        ("EntityAlreadyExists", AlreadyExists),
        ("DeleteConflict", DeleteConflict),
        ("ServiceFailure", AwsError),
        ("Throttling", AwsError),
    ],
)
def test_iam_error_codes_become_their_kind_of_error(code: str, kind: type[AwsError]) -> None:
    failure = translate(client_error(code, "The role is busy."), "DeleteRole", ROLE)

    assert type(failure) is kind
    assert failure.code == code
    assert failure.reason == f"iam:DeleteRole on {ROLE} failed with {code}: The role is busy."


def test_the_tag_limit_says_how_many_tags_a_role_holds() -> None:
    failure = translate(
        client_error("LimitExceeded", "Cannot exceed quota for TagsPerRole: 50."), "TagRole", ROLE
    )

    assert isinstance(failure, AwsError)
    assert failure.code == "LimitExceeded"
    assert "iam:TagRole on dms-vpc-role" in failure.reason
    assert "TagsPerRole: 50" in failure.reason
    assert f"{MAX_TAGS_PER_ROLE} tags" in failure.reason


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://iam.amazonaws.com/"),
        ReadTimeoutError(endpoint_url="https://iam.amazonaws.com/"),
    ],
    ids=["connection", "timeout"],
)
def test_iam_out_of_reach_is_said_so(error: Exception) -> None:
    failure = translate(error, "GetRole", ROLE)

    assert isinstance(failure, AwsError)
    assert failure.code == type(error).__name__
    assert failure.reason.startswith("iam:GetRole on dms-vpc-role could not reach IAM")


def test_anything_else_is_still_a_reason_not_a_traceback() -> None:
    failure = translate(ValueError("odd"), "GetRole", ROLE)

    assert isinstance(failure, ProvisioningError)
    assert failure.reason == "iam:GetRole on dms-vpc-role failed unexpectedly (ValueError('odd'))."


def test_a_reason_is_one_line_of_at_most_256_characters() -> None:
    message = "Line one.\nLine two.\t" + "x" * 1000
    failure = translate(client_error("ServiceFailure", message), "CreateRole", ROLE)

    assert len(failure.reason) == MAX_REASON == 256
    assert "\n" not in failure.reason and "\t" not in failure.reason
    assert failure.reason.endswith("…")
    assert str(failure) == failure.reason


def test_every_translation_is_a_provisioning_error_the_handler_answers_with() -> None:
    errors = [client_error("AccessDenied"), client_error("NoSuchEntity"), OSError("disk")]

    assert all(isinstance(translate(e, "GetRole", ROLE), ProvisioningError) for e in errors)
