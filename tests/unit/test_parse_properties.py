"""parse_properties: CloudFormation's strings become one typed value, or a reason naming one.

Pure: no AWS, no handler. The functional tests (tests/functional) check the
same rules through the whole function; these pin each rule on its own. What a
boundary or a tag may be is now a rule of the deployment's settings
(tests/unit/test_account_settings.py): the properties that held them moved there.
"""

from __future__ import annotations

import logging

import pytest
from dms_prereq.catalogue import CLOUDWATCH_LOGS_ROLE, REDSHIFT_ROLE, ROLES, VPC_ROLE
from dms_prereq.errors import MAX_REASON, InvalidRequest
from dms_prereq.properties import PROPERTY_NAMES, ExistingRolePolicy, Properties, parse_properties
from dms_prereq.settings import MOVED_PROPERTIES


def parsed(**raw: object) -> Properties:
    return parse_properties(raw)


def reason(raw: object, *, refuse_moved: bool = True) -> str:
    with pytest.raises(InvalidRequest) as failure:
        parse_properties(raw, refuse_moved=refuse_moved)
    return failure.value.reason


def test_no_properties_means_every_default() -> None:
    assert parse_properties(None) == parse_properties({}) == Properties()

    defaults = Properties()

    assert defaults.enabled_roles == {r.name for r in ROLES if r.enabled_by_default}
    assert defaults.enabled_roles == {VPC_ROLE.name, CLOUDWATCH_LOGS_ROLE.name}
    assert defaults.existing_role_policy is ExistingRolePolicy.ADOPT
    assert defaults.propagation_delay_seconds == 10


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
    assert parsed(CreateRedshiftRole=value).enables(REDSHIFT_ROLE) is expected
    assert parsed(CreateVpcRole=value).enables(VPC_ROLE) is expected


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
    ("value", "expected"),
    [("0", 0), (" 7 ", 7), ("300", 300), (5, 5), (0, 0), (10.0, 10), ("10.0", 10), (0.0, 0)],
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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PermissionsBoundary", "arn:aws:iam::123456789012:policy/dms-boundary"),
        ("Tags", [{"Key": "team", "Value": "data"}]),
        ("RestrictToSourceAccount", "true"),
    ],
)
def test_a_property_that_moved_to_the_deployment_fails_a_create_naming_its_parameter(
    name: str, value: object
) -> None:
    found = reason({name: value, "PropagationDelaySeconds": "0"})

    assert name in found
    assert f"{MOVED_PROPERTIES[name]} parameter" in found
    assert len(found) <= MAX_REASON


def test_every_moved_property_is_named_at_once() -> None:
    found = reason({name: "x" for name in MOVED_PROPERTIES})

    for name, parameter in MOVED_PROPERTIES.items():
        assert name in found
        assert parameter in found


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_update_or_delete_ignores_a_moved_property_with_a_warning() -> None:
    """So that a rollback to properties written for version 1 never fails over them."""
    raw = {"Tags": "not even a list", "PermissionsBoundary": 7, "CreateRedshiftRole": "true"}
    # A handler on the module's own logger: once app.py has been imported, Powertools
    # stops dms_prereq's loggers propagating to the root, where caplog listens.
    records = _Records()
    source = logging.getLogger("dms_prereq.properties")
    source.addHandler(records)
    try:
        props = parse_properties(raw, refuse_moved=False)
    finally:
        source.removeHandler(records)

    assert props == Properties(enabled_roles=Properties().enabled_roles | {REDSHIFT_ROLE.name})
    warned = [r for r in records.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert warned[0].properties == {  # type: ignore[attr-defined]
        "PermissionsBoundary": "RolePermissionsBoundary",
        "Tags": "RoleTags",
    }


def test_an_unknown_property_next_to_a_moved_one_is_still_refused() -> None:
    assert "'Colour'" in reason({"Tags": [], "Colour": "blue"}, refuse_moved=False)


def test_a_long_unknown_name_is_cut_but_the_list_of_valid_ones_is_whole() -> None:
    found = reason({"X" * 300: "1"})

    assert len(found) <= MAX_REASON
    assert found.endswith(f"; valid properties are {', '.join(PROPERTY_NAMES)}.")
    assert "…" in found


def test_a_reason_is_one_short_sentence_however_large_the_input() -> None:
    found = reason({"X" * 100_000: "1", "PropagationDelaySeconds": "9" * 100_000})

    assert len(found) <= 256
    assert "\n" not in found
