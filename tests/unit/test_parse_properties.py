"""parse_properties: CloudFormation's strings become one typed value, or a reason naming one.

Pure: no AWS, no handler. The functional tests (tests/functional) check the
same rules through the whole function; these pin each rule on its own.
"""

from __future__ import annotations

import pytest
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE
from dms_prereq.errors import InvalidRequest
from dms_prereq.ownership import MAX_USER_TAGS
from dms_prereq.properties import ExistingRolePolicy, Properties, parse_properties

BOUNDARY = "arn:aws:iam::123456789012:policy/dms-boundary"


def parsed(**raw: object) -> Properties:
    return parse_properties(raw, "aws")


def reason(raw: object, partition: str = "aws") -> str:
    with pytest.raises(InvalidRequest) as failure:
        parse_properties(raw, partition)
    return failure.value.reason


def test_no_properties_means_every_default() -> None:
    assert parse_properties(None, "aws") == parse_properties({}, "aws") == Properties()

    defaults = Properties()

    assert defaults.enabled_roles == {r.name for r in ROLES if r.enabled_by_default}
    assert defaults.enabled_roles == {VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name}
    assert defaults.existing_role_policy is ExistingRolePolicy.ADOPT
    assert defaults.permissions_boundary is None
    assert defaults.tags == ()
    assert defaults.propagation_delay_seconds == 10
    assert defaults.restrict_to_source_account is False


def test_cloudformation_own_keys_are_ignored() -> None:
    assert parsed(ServiceToken="arn:aws:lambda:us-east-1:1:function:f", ServiceTimeout="300") == (
        Properties()
    )


@pytest.mark.parametrize("raw", [[], "CreateVpcRole=true", 42])
def test_properties_that_are_not_an_object_are_refused(raw: object) -> None:
    assert "ResourceProperties" in reason(raw)


def test_an_unknown_property_is_named_beside_the_valid_ones() -> None:
    found = reason({"CreateVPCRole": "true", "PropagationDelaySeconds": "0"})

    assert "'CreateVPCRole'" in found
    for role in ROLES:
        assert role.enable_property in found
    assert "ExistingRolePolicy" in found


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" true ", True),
        ("False", False),
        (True, True),
        (False, False),
    ],
)
def test_booleans_are_strings_in_any_case_or_json_booleans(value: object, expected: bool) -> None:
    assert parsed(RestrictToSourceAccount=value).restrict_to_source_account is expected
    assert parsed(CreateRedshiftRole=value).enables(REDSHIFT_ROLE) is expected


@pytest.mark.parametrize("value", ["yes", "1", 1, None, "trüe", ""])
def test_anything_else_is_not_a_boolean(value: object) -> None:
    found = reason({"CreateVpcRole": value})

    assert found.startswith("Property CreateVpcRole must be true or false")


def test_each_role_switch_adds_or_removes_its_role() -> None:
    props = parsed(CreateVpcRole="false", CreateRedshiftRole="true")

    assert props.enabled_roles == {CLOUDWATCH_LOGS_ROLE.name, REDSHIFT_ROLE.name}
    assert not props.enables(VPC_ROLE)
    assert parsed(CreateVpcRole="false", CreateCloudWatchLogsRole="false").enabled_roles == set()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Adopt", ExistingRolePolicy.ADOPT), ("fail", ExistingRolePolicy.FAIL), (" FAIL ", "Fail")],
)
def test_existing_role_policy_is_adopt_or_fail_in_any_case(value: str, expected: str) -> None:
    assert parsed(ExistingRolePolicy=value).existing_role_policy == expected


@pytest.mark.parametrize("value", ["Replace", "", 1, None])
def test_existing_role_policy_refuses_anything_else(value: object) -> None:
    assert "ExistingRolePolicy" in reason({"ExistingRolePolicy": value})


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0), (" 7 ", 7), ("300", 300), (5, 5), (0, 0)]
)
def test_propagation_delay_is_whole_seconds_up_to_five_minutes(
    value: object, expected: int
) -> None:
    assert parsed(PropagationDelaySeconds=value).propagation_delay_seconds == expected


@pytest.mark.parametrize("value", ["301", "-1", "ten", "1e3", "9" * 1000, 10.5, True, None, 301])
def test_propagation_delay_refuses_anything_else(value: object) -> None:
    found = reason({"PropagationDelaySeconds": value})

    assert found.startswith("Property PropagationDelaySeconds must be a whole number")
    assert "0 to 300" in found


def test_a_boundary_in_the_stacks_partition_is_kept() -> None:
    assert parsed(PermissionsBoundary=BOUNDARY).permissions_boundary == BOUNDARY
    china = "arn:aws-cn:iam::123456789012:policy/b"
    assert parse_properties({"PermissionsBoundary": china}, "aws-cn").permissions_boundary == china


def test_a_boundary_of_another_partition_says_which_to_use() -> None:
    found = reason({"PermissionsBoundary": "arn:aws-cn:iam::123456789012:policy/b"})

    assert "aws-cn" in found and "arn:aws:iam::" in found


@pytest.mark.parametrize(
    "value",
    [
        "dms-boundary",
        "arn:aws:s3:::bucket/policy",
        "arn:aws:iam::123456789012:role/admin",
        "arn:aws:sns:us-east-1:123456789012:topic",
        12345,
    ],
)
def test_a_boundary_must_be_an_iam_managed_policy_arn(value: object) -> None:
    found = reason({"PermissionsBoundary": value})

    assert found.startswith("Property PermissionsBoundary must be an IAM managed policy ARN")


def test_tags_keep_their_order_and_numbers_become_strings() -> None:
    props = parsed(Tags=[{"Key": "team", "Value": "data"}, {"Key": "cost-centre", "Value": 42}])

    assert props.tags == (("team", "data"), ("cost-centre", "42"))
    assert props.tag_dict == {"team": "data", "cost-centre": "42"}


@pytest.mark.parametrize(
    ("tags", "named"),
    [
        ("team=data", "Tags"),
        ({"team": "data"}, "Tags"),
        ([{"Key": "team"}], "Tags[0]"),
        ([{"Key": "a", "Value": "b", "X": 1}], "Tags[0]"),
        ([{"Key": 7, "Value": "b"}], "Tags[0]"),
        ([{"Key": "ok", "Value": "b"}, {"Key": "", "Value": "b"}], "Tags[1].Key"),
        ([{"Key": "k" * 129, "Value": "b"}], "Tags[0].Key"),
        ([{"Key": "a|b", "Value": "b"}], "Tags[0].Key"),
        ([{"Key": "k", "Value": "v" * 257}], "Tags[0].Value"),
        ([{"Key": "k", "Value": "<script>"}], "Tags[0].Value"),
        ([{"Key": "aws:owner", "Value": "b"}], "Tags[0].Key"),
        ([{"Key": "DMS-Prerequisite-Roles:claim:x", "Value": "b"}], "Tags[0].Key"),
    ],
)
def test_a_bad_tag_is_refused_naming_where_it_is(tags: object, named: str) -> None:
    assert reason({"Tags": tags}).startswith(f"Property {named}")


def test_tag_limits_are_iams_less_what_this_project_keeps() -> None:
    most = [{"Key": f"k{i}", "Value": "v" * 256} for i in range(MAX_USER_TAGS)]
    most[0]["Key"] = "k" * 128

    assert len(parsed(Tags=most).tags) == MAX_USER_TAGS
    assert str(MAX_USER_TAGS) in reason({"Tags": [*most, {"Key": "one-more", "Value": ""}]})


def test_a_tag_key_given_twice_in_any_case_is_refused() -> None:
    found = reason({"Tags": [{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]})

    assert "'team'" in found and "twice" in found


def test_a_reason_is_one_short_sentence_however_large_the_input() -> None:
    found = reason({"X" * 100_000: "1", "PropagationDelaySeconds": "9" * 100_000})

    assert len(found) <= 256
    assert "\n" not in found
