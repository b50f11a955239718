"""The cfn-lint rules in schema/ catch in a stack author's template what the function refuses.

cfn-lint on its own accepts any property and any attribute on a ``Custom::``
resource; these tests lint small templates with the rules, exactly as the
reference tells stack authors to (``cfn-lint --append-rules schema``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dms_prereq.catalogue import ROLES
from dms_prereq.properties import DEFINITIONS
from dms_prereq.settings import MOVED_PROPERTIES

from tests.docs.lint import SCHEMA_DIR, cfn_lint
from tools import gen_docs

HEADER = """AWSTemplateFormatVersion: "2010-09-09"
Resources:
"""
ROLE = ROLES[-1]
TEMPLATES = {
    # What CloudFormation users write: strings for booleans and numbers, intrinsics.
    "accepted": f"""
  DmsRoles:
    Type: Custom::DmsPrerequisiteRoles
    Properties:
      ServiceToken: !ImportValue dms-prerequisite-roles-ServiceToken
      ServiceTimeout: 600
      {ROLE.enable_property}: "TRUE"
      CreateVpcRole: true
      ExistingRolePolicy: !Ref Policy
      PropagationDelaySeconds: "30"
      CreateCloudWatchLogsRole: !If [InIreland, "true", "false"]
Outputs:
  Arn:
    Value: !GetAtt DmsRoles.{ROLE.arn_attribute}
  Both:
    Value: !Sub "${{DmsRoles.CreatedRoles}} ${{DmsRoles.AdoptedRoles}}"
Parameters:
  Policy:
    Type: String
    AllowedValues: [Adopt, Fail]
Conditions:
  InIreland: !Equals [!Ref "AWS::Region", eu-west-1]
""",
    "misspelt": f"""
  DmsRoles:
    Type: Custom::DmsPrerequisiteRoles
    Properties:
      ServiceToken: !ImportValue dms-prerequisite-roles-ServiceToken
      {ROLE.enable_property.replace("Role", "Rol")}: "true"
""",
    "wrong-values": """
  DmsRoles:
    Type: Custom::DmsPrerequisiteRoles
    Properties:
      ServiceToken: !ImportValue dms-prerequisite-roles-ServiceToken
      CreateVpcRole: "yes"
      ExistingRolePolicy: Sometimes
      PropagationDelaySeconds: "301"
""",
    "no-token": """
  DmsRoles:
    Type: Custom::DmsPrerequisiteRoles
    Properties:
      CreateVpcRole: "true"
""",
    "unknown-attribute": """
  DmsRoles:
    Type: Custom::DmsPrerequisiteRoles
    Properties:
      ServiceToken: !ImportValue dms-prerequisite-roles-ServiceToken
Outputs:
  Arn:
    Value: !GetAtt DmsRoles.VpcRoleArm
  Listed:
    Value: !Sub "roles: ${DmsRoles.Roles}"
""",
    "attribute-as-property": """
  DmsRoles:
    Type: Custom::DmsPrerequisiteRoles
    Properties:
      ServiceToken: !ImportValue dms-prerequisite-roles-ServiceToken
      VpcRoleArn: arn:aws:iam::123456789012:role/dms-vpc-role
""",
    "moved-properties": """
  DmsRoles:
    Type: Custom::DmsPrerequisiteRoles
    Properties:
      ServiceToken: !ImportValue dms-prerequisite-roles-ServiceToken
      PermissionsBoundary: arn:aws:iam::123456789012:policy/dms-boundary
      Tags:
        - Key: CostCenter
          Value: dms
      RestrictToSourceAccount: "true"
""",
    "other-custom-resource": """
  Something:
    Type: Custom::Something
    Properties:
      ServiceToken: !ImportValue something-ServiceToken
      CreateVpcRol: whatever
Outputs:
  Anything:
    Value: !GetAtt Something.Whatever
""",
}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("rules")
    paths = {}
    for name, body in TEMPLATES.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(HEADER + body.lstrip("\n"))
    found = cfn_lint(list(paths.values()))
    return {name: found[path.resolve()] for name, path in paths.items()}


def test_what_cloudformation_users_write_passes(findings: dict[str, list[str]]) -> None:
    assert findings["accepted"] == []


def test_a_misspelt_property_is_an_error_naming_the_right_one(
    findings: dict[str, list[str]],
) -> None:
    (finding,) = findings["misspelt"]

    assert "E9101" in finding
    assert f"Did you mean '{ROLE.enable_property}'" in finding


def test_values_the_function_refuses_are_errors(findings: dict[str, list[str]]) -> None:
    found = "\n".join(findings["wrong-values"])

    assert len(findings["wrong-values"]) == 3, found
    assert "'yes' is not of type 'boolean'" in found
    assert "'Sometimes' is not one of ['Adopt', 'Fail']" in found
    assert "'301' is greater than the maximum of 300" in found


def test_a_resource_without_its_service_token_is_an_error(
    findings: dict[str, list[str]],
) -> None:
    assert any("E9101 'ServiceToken' is a required property" in f for f in findings["no-token"])


def test_an_attribute_the_resource_does_not_return_is_an_error(
    findings: dict[str, list[str]],
) -> None:
    found = findings["unknown-attribute"]

    assert len(found) == 2, found
    assert all("E9102" in f for f in found)
    assert "'VpcRoleArm'" in found[0] and "VpcRoleArn" in found[0]
    assert "'Roles'" in found[1]


def test_an_attribute_is_not_a_property(findings: dict[str, list[str]]) -> None:
    (finding,) = findings["attribute-as-property"]

    assert "E9101" in finding and "'VpcRoleArn' was unexpected" in finding


def test_properties_that_moved_to_the_deployment_are_errors_naming_the_parameter(
    findings: dict[str, list[str]],
) -> None:
    found = findings["moved-properties"]

    # One finding each, from E9103 alone (E9101 does not also call them unknown).
    assert len(found) == len(MOVED_PROPERTIES), found
    assert all(" E9103 " in f for f in found), found
    for (old, parameter), finding in zip(MOVED_PROPERTIES.items(), found, strict=True):
        assert f"{old} is no longer a property: it is the {parameter} parameter" in finding


def test_other_custom_resources_are_left_alone(findings: dict[str, list[str]]) -> None:
    assert findings["other-custom-resource"] == []


def test_the_shipped_schema_is_the_one_the_definitions_generate() -> None:
    shipped = json.loads((SCHEMA_DIR / gen_docs.SCHEMA.name).read_text())

    assert shipped == gen_docs.schema_document()
    not_settable = {
        p.rpartition("/")[2]
        for p in (*shipped["readOnlyProperties"], *shipped["deprecatedProperties"])
    }
    settable = set(shipped["properties"]) - not_settable
    assert settable == {"ServiceToken", "ServiceTimeout", *(d.name for d in DEFINITIONS)}
    assert {p.rpartition("/")[2] for p in shipped["deprecatedProperties"]} == set(MOVED_PROPERTIES)
    assert shipped["additionalProperties"] is False


def test_the_rules_need_nothing_but_cfn_lint_and_the_folder(tmp_path: Path) -> None:
    """Stack authors copy schema/ into their own repository: it must work from there."""
    copy = tmp_path / "vendored"
    copy.mkdir()
    for name in ("dms_prerequisite_roles.py", gen_docs.SCHEMA.name):
        (copy / name).write_text((SCHEMA_DIR / name).read_text())
    template = tmp_path / "stack.yaml"
    template.write_text(HEADER + TEMPLATES["misspelt"].lstrip("\n"))

    found = cfn_lint([template], rules_dir=copy)

    assert len(found[template.resolve()]) == 1
