"""The deployment's settings: parsed from the environment, each error naming its parameter."""

from __future__ import annotations

import pytest
from dms_prereq.errors import InvalidSetting
from dms_prereq.ownership import MAX_USER_TAGS
from dms_prereq.settings import SETTINGS, AccountSettings, BoundaryChoice

BOUNDARY = "arn:aws:iam::123456789012:policy/dms-boundary"


def test_defaults_come_from_the_rows_of_the_settings_table() -> None:
    assert AccountSettings.from_environment({}) == AccountSettings()
    assert AccountSettings() == AccountSettings(
        boundary=BoundaryChoice(),
        tags=(),
        restrict_to_source_account=False,
        verify_requests=True,
        retention_minutes=1440,
        dms_regions=None,
        sweep_settle_seconds=60,
    )


def test_every_setting_is_read_from_its_environment_variable() -> None:
    settings = AccountSettings.from_environment(
        {
            "ROLE_PERMISSIONS_BOUNDARY": BOUNDARY,
            "ROLE_TAGS": "team=data, cost-center = 42",
            "RESTRICT_TO_SOURCE_ACCOUNT": "TRUE",
            "VERIFY_REQUESTS": "false",
            "UNCLAIMED_ROLE_RETENTION_MINUTES": "Never",
            "DMS_REGIONS": "eu-west-1, us-east-1",
            "SWEEP_SETTLE_SECONDS": "5",
        }
    )
    assert settings.boundary == BoundaryChoice(BOUNDARY)
    assert settings.tags == (("team", "data"), ("cost-center", "42"))
    assert settings.restrict_to_source_account is True
    assert settings.verify_requests is False
    assert settings.retention_minutes is None
    assert settings.dms_regions == ("eu-west-1", "us-east-1")
    assert settings.sweep_settle_seconds == 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", BoundaryChoice()),
        ("none", BoundaryChoice(remove=True)),
        ("None", BoundaryChoice(remove=True)),
    ],
)
def test_an_empty_boundary_leaves_boundaries_alone_and_none_removes_them(
    value: str, expected: BoundaryChoice
) -> None:
    assert (
        AccountSettings.from_environment({"ROLE_PERMISSIONS_BOUNDARY": value}).boundary == expected
    )


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("ROLE_PERMISSIONS_BOUNDARY", "DenyAll", "RolePermissionsBoundary"),
        ("ROLE_TAGS", "team", "RoleTags"),
        ("ROLE_TAGS", "aws:team=x", "RoleTags"),
        ("ROLE_TAGS", "dms-prerequisite-roles:claim:x=y", "RoleTags"),
        ("ROLE_TAGS", "Team=a,team=b", "RoleTags"),
        ("ROLE_TAGS", "team=aws:x", "RoleTags"),
        ("RESTRICT_TO_SOURCE_ACCOUNT", "yes", "RestrictToSourceAccount"),
        ("VERIFY_REQUESTS", "1", "VerifyRequests"),
        ("UNCLAIMED_ROLE_RETENTION_MINUTES", "60", "UnclaimedRoleRetentionMinutes"),
        ("UNCLAIMED_ROLE_RETENTION_MINUTES", "-1", "UnclaimedRoleRetentionMinutes"),
        ("DMS_REGIONS", "Europe", "DmsRegions"),
        ("SWEEP_SETTLE_SECONDS", "soon", "SWEEP_SETTLE_SECONDS"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_parameter(
    variable: str, value: str, named: str
) -> None:
    with pytest.raises(InvalidSetting) as refused:
        AccountSettings.from_environment({variable: value})
    assert named in refused.value.reason
    assert len(refused.value.reason) <= 256


def test_tag_keys_that_differ_only_in_case_are_one_key_as_in_iam() -> None:
    with pytest.raises(InvalidSetting, match="named twice"):
        AccountSettings.from_environment({"ROLE_TAGS": "Owner=a,owner=b"})


def test_no_more_tags_than_fit_beside_the_projects_own() -> None:
    many = ",".join(f"k{i}=v" for i in range(MAX_USER_TAGS + 1))
    with pytest.raises(InvalidSetting, match=str(MAX_USER_TAGS)):
        AccountSettings.from_environment({"ROLE_TAGS": many})
    fitting = ",".join(f"k{i}=v" for i in range(MAX_USER_TAGS))
    assert len(AccountSettings.from_environment({"ROLE_TAGS": fitting}).tags) == MAX_USER_TAGS


def test_retention_is_zero_or_at_least_four_hours() -> None:
    assert (
        AccountSettings.from_environment(
            {"UNCLAIMED_ROLE_RETENTION_MINUTES": "0"}
        ).retention_minutes
        == 0
    )
    assert (
        AccountSettings.from_environment(
            {"UNCLAIMED_ROLE_RETENTION_MINUTES": "240"}
        ).retention_minutes
        == 240
    )


def test_every_row_has_its_docs() -> None:
    for setting in SETTINGS:
        assert setting.description and setting.allowed and setting.variable.isupper()


# -- what a tag or a boundary may be: rules that were the Tags and PermissionsBoundary
# -- properties' in version 1, and are the deployment's now


def tags_of(raw: str) -> tuple[tuple[str, str], ...]:
    return AccountSettings.from_environment({"ROLE_TAGS": raw}).tags


def refusal(variable: str, raw: str) -> str:
    with pytest.raises(InvalidSetting) as refused:
        AccountSettings.from_environment({variable: raw})
    return refused.value.reason


def test_tags_keep_their_order_and_their_values_whole() -> None:
    assert tags_of("team=data,cost-centre=42,path=a/b=c") == (
        ("team", "data"),
        ("cost-centre", "42"),
        ("path", "a/b=c"),
    )


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("team", "Key=Value"),
        ("=data", "Key=Value"),
        ("team=data,", "Key=Value"),
        ("k" * 129 + "=v", "1-128"),
        ("a|b=x", "letters, digits"),
        ("k=" + "v" * 257, "at most 256"),
        ("k=<script>", "at most 256"),
        ("aws:owner=x", "reserved prefix"),
        ("AWS:owner=x", "reserved prefix"),
        ("DMS-Prerequisite-Roles:claim:x=y", "reserved prefix"),
        ("k=aws:x", "may not begin with aws:"),
        ("Team=a,team=b", "twice"),
    ],
)
def test_a_bad_tag_is_refused_saying_what_is_wrong(raw: str, says: str) -> None:
    found = refusal("ROLE_TAGS", raw)

    assert found.startswith("The deployment's RoleTags parameter (ROLE_TAGS) is invalid")
    assert says in found
    assert len(found) <= 256


def test_the_longest_tags_iam_takes_are_taken() -> None:
    most = [f"k{i}=" + "v" * 256 for i in range(MAX_USER_TAGS)]
    most[0] = "k" * 128 + "=v"

    assert len(tags_of(",".join(most))) == MAX_USER_TAGS


@pytest.mark.parametrize(
    "boundary",
    [
        BOUNDARY,
        "arn:aws-cn:iam::123456789012:policy/dms-boundary",
        "arn:aws-us-gov:iam::123456789012:policy/team/dms-boundary",
        "arn:aws:iam::aws:policy/PowerUserAccess",
    ],
)
def test_a_boundary_is_any_managed_policy_arn(boundary: str) -> None:
    """One setting for the deployment, in whatever partition it runs: no stack to compare
    the partition with (version 1 checked it against each stack's)."""
    found = AccountSettings.from_environment({"ROLE_PERMISSIONS_BOUNDARY": boundary}).boundary

    assert found == BoundaryChoice(boundary)


@pytest.mark.parametrize(
    "boundary",
    [
        "dms-boundary",
        "arn:aws:s3:::bucket/policy",
        "arn:aws:iam::123456789012:role/admin",
        "arn:aws:sns:us-east-1:123456789012:topic",
        "12345",
    ],
)
def test_a_boundary_must_be_a_managed_policy_arn(boundary: str) -> None:
    found = refusal("ROLE_PERMISSIONS_BOUNDARY", boundary)

    assert "RolePermissionsBoundary" in found
    assert "managed policy ARN" in found


def test_a_reason_is_one_short_sentence_however_large_the_setting() -> None:
    found = refusal("ROLE_TAGS", "k" * 100_000)

    assert len(found) <= 256
    assert "\n" not in found
