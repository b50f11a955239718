"""The generated docs match the code, the generator touches only its markers, all of them, and
operations.md names every metric the sweep emits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]
from dms_prereq import telemetry
from dms_prereq.catalogue import ROLES
from dms_prereq.ownership import (
    CLAIM_KEY_PREFIX,
    DELETING_SINCE_KEY,
    ORIGIN_KEY,
    ROLE_TAGS_KEY,
    UNCLAIMED_SINCE_KEY,
)
from dms_prereq.properties import DEFINITIONS
from dms_prereq.request import ResourceRef
from dms_prereq.resource import attributes as answer_attributes
from dms_prereq.settings import MOVED_PROPERTIES, SETTINGS
from dms_prereq.sweep import Kept, RoleReport, SweepReport

from tools import gen_docs

ROOT = Path(__file__).resolve().parents[2]
#: Tables the README may hold outside generated markers (by header row): facts
#: that live nowhere else. Anything else is a copy of docs/, or should be generated.
HAND_WRITTEN_README_TABLES = {
    "| path | what |",  # the layout
}


def test_reference_readme_and_schema_are_up_to_date() -> None:
    assert gen_docs.stale() == [], "generated docs are stale: run `make docs`"


def test_readme_holds_every_generated_section_once() -> None:
    text = (ROOT / "README.md").read_text()

    for name in gen_docs.README_SECTIONS:
        for end in ("start", "end"):
            assert text.count(gen_docs.marker(name, end)) == 1, f"README.md: {name} {end}"


def readme_without(tmp_path: Path, name: str) -> Path:
    """A copy of the README that lost the markers of one section (the table stays)."""
    text = (ROOT / "README.md").read_text()
    for end in ("start", "end"):
        text = text.replace(gen_docs.marker(name, end) + "\n", "")
    copy = tmp_path / "README.md"
    copy.write_text(text)
    return copy


@pytest.mark.parametrize("name", list(gen_docs.README_SECTIONS))
def test_a_readme_that_lost_its_markers_is_an_error_not_skipped(tmp_path: Path, name: str) -> None:
    readme = readme_without(tmp_path, name)
    reference = tmp_path / "reference.md"

    with pytest.raises(gen_docs.DocsError, match=f"generated:{name}:start"):
        gen_docs.stale(reference_path=reference, readme_path=readme)
    with pytest.raises(gen_docs.DocsError):
        gen_docs.write(reference_path=reference, readme_path=readme)
    assert not reference.exists(), "nothing is written when the README cannot be filled"


@pytest.mark.parametrize("args", [[], ["--check"]])
def test_make_docs_and_docs_check_fail_on_a_readme_without_markers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    monkeypatch.setattr(gen_docs, "README", readme_without(tmp_path, "properties"))
    monkeypatch.setattr(gen_docs, "REFERENCE", tmp_path / "reference.md")
    monkeypatch.setattr(gen_docs, "SCHEMA", tmp_path / "schema.json")

    status = gen_docs.main(args)

    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("gen_docs: error: README.md must hold <!-- generated:properties:start")
    assert err.count("\n") == 1


def test_generator_replaces_only_between_markers() -> None:
    start, end = gen_docs.marker("properties", "start"), gen_docs.marker("properties", "end")
    text = f"# Title\n\nintro\n{start}\nold table\n{end}\n\nafter | text\n"

    updated = gen_docs.replace_between(text, "properties", "NEW")

    assert updated == f"# Title\n\nintro\n{start}\nNEW\n{end}\n\nafter | text\n"
    assert gen_docs.replace_between(updated, "properties", "NEW") == updated


@pytest.mark.parametrize(
    "text",
    [
        "no markers here\n",
        f"{gen_docs.marker('attributes', 'start')}\n",
        f"{gen_docs.marker('attributes', 'end')}\n{gen_docs.marker('attributes', 'start')}\n",
        (f"{gen_docs.marker('attributes', 'start')}\n{gen_docs.marker('attributes', 'end')}\n") * 2,
    ],
    ids=["none", "lone", "reversed", "twice"],
)
def test_markers_missing_alone_reversed_or_repeated_are_an_error(text: str) -> None:
    with pytest.raises(gen_docs.DocsError, match="generated:attributes"):
        gen_docs.replace_between(text, "attributes", "NEW")


def test_documented_attributes_are_the_ones_the_function_returns() -> None:
    documented = [name for name, _ in gen_docs.attributes()]
    resource = ResourceRef.parse(gen_docs.EXAMPLE_STACK_ID, gen_docs.EXAMPLE_LOGICAL_ID)

    assert documented == list(answer_attributes({}, resource))


def test_reference_documents_every_property_and_attribute() -> None:
    text = gen_docs.reference()

    for definition in DEFINITIONS:
        assert f"### `{definition.name}`" in text
        assert f'"{definition.name}" :' in text
    for role in ROLES:
        assert f"`{role.arn_attribute}`" in text
    assert re.search(r"`DmsPrerequisiteRoles-[0-9a-f]{20}`", text)


def test_pipes_in_table_cells_are_escaped() -> None:
    table = gen_docs.properties_table()

    assert "true \\| false" in table
    assert all(line.count(" | ") >= 4 for line in table.splitlines()[2:])


def test_readme_role_table_is_the_catalogue() -> None:
    table = gen_docs.roles_table()

    for role in ROLES:
        (row,) = [line for line in table.splitlines() if line.startswith(f"| `{role.name}` |")]
        assert f"`{role.enable_property}`" in row
        assert f"service-role/{role.managed_policy}" in row
        assert all(f"`{principal}`" in row for principal in role.principals)


def granted_actions(template: dict[str, Any]) -> set[str]:
    """Every action any role of the template allows (the function's is the only one)."""
    found = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                action = statement["Action"]
                found.update(action if isinstance(action, list) else [action])
    return found


def test_readme_permissions_are_every_action_the_template_grants() -> None:
    table = gen_docs.permissions_table()
    listed = set(re.findall(r"`([a-z0-9-]+:[A-Za-z*]+)`", table)) - {"iam:PolicyARN"}

    assert listed == granted_actions(cfn_yaml.load(str(ROOT / "template.yaml")))
    assert "`iam:PolicyARN` ArnEquals" in table


def test_permissions_follow_the_template(tmp_path: Path) -> None:
    template = (ROOT / "template.yaml").read_text()
    changed = tmp_path / "template.yaml"
    changed.write_text(
        template.replace("- iam:GetRole\n", "- iam:GetRole\n                  - iam:ListRoleTags\n")
    )

    assert "`iam:ListRoleTags`" in gen_docs.permissions_table(changed)
    assert "`iam:ListRoleTags`" not in gen_docs.permissions_table()


def test_a_function_without_a_role_of_the_template_is_an_error(tmp_path: Path) -> None:
    template = (ROOT / "template.yaml").read_text()
    broken = tmp_path / "template.yaml"
    broken.write_text(template.replace("Role: !GetAtt FunctionRole.Arn", "Policies: []"))

    with pytest.raises(gen_docs.DocsError, match="permissions table"):
        gen_docs.permissions_table(broken)


def test_readme_tables_are_generated_or_its_own() -> None:
    """The races, reliability and performance tables live once, in docs/: not copied here."""
    text = (ROOT / "README.md").read_text()
    for name in gen_docs.README_SECTIONS:
        head, _, rest = text.partition(gen_docs.marker(name, "start"))
        text = head + rest.partition(gen_docs.marker(name, "end"))[2]
    headers = [
        line.strip()
        for previous, line in zip(text.splitlines(), text.splitlines()[1:], strict=False)
        if line.startswith("|") and not previous.startswith("|")
    ]

    assert set(headers) <= HAND_WRITTEN_README_TABLES, set(headers) - HAND_WRITTEN_README_TABLES


# -- the deployment's parameters, the tags, the metrics ----------------------------------------


def test_every_setting_and_template_parameter_is_documented_once() -> None:
    table = gen_docs.parameters_table()
    parameters = cfn_yaml.load(str(ROOT / "template.yaml"))["Parameters"]

    for setting in SETTINGS:
        rows = [line for line in table.splitlines() if f"`{setting.variable}`" in line]
        assert len(rows) == 1, setting.variable
        assert (f"`{setting.parameter}`" if setting.parameter else "(none)") in rows[0]
    for name in parameters:
        assert sum(line.startswith(f"| `{name}` |") for line in table.splitlines()) == 1, name
    assert gen_docs.parameters_table() in gen_docs.reference()


def test_a_template_without_a_settings_parameter_is_an_error(tmp_path: Path) -> None:
    template = (ROOT / "template.yaml").read_text()
    broken = tmp_path / "template.yaml"
    broken.write_text(template.replace("  RoleTags:\n", "  RoleTagz:\n", 1))

    with pytest.raises(gen_docs.DocsError, match="RoleTags"):
        gen_docs.parameters_table(broken)


def test_the_tags_table_names_every_key_this_project_writes() -> None:
    table = gen_docs.tags_table()

    for key in (ORIGIN_KEY, UNCLAIMED_SINCE_KEY, DELETING_SINCE_KEY, ROLE_TAGS_KEY):
        assert f"| `{key}` |" in table
    assert f"| `{CLAIM_KEY_PREFIX}<20 hex>` | the StackId |" in table


def test_how_many_claims_fit_follows_iams_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "fits **49 claims** without `RoleTags`, and\n**48 − *n***" in gen_docs.reference()

    monkeypatch.setattr(gen_docs, "MAX_TAGS_PER_ROLE", 60)

    assert "fits **59 claims**" in gen_docs.claims_that_fit()


def test_the_moved_properties_are_listed_with_their_parameters() -> None:
    table = gen_docs.moved_table()

    for old, parameter in MOVED_PROPERTIES.items():
        assert f"| `{old}` | `{parameter}` |" in table
        assert old not in {d.name for d in DEFINITIONS}


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> set[tuple[str, tuple[str, ...]]]:
    """(metric, dimensions) of everything one sweep's report publishes, as Powertools prints it."""
    report = SweepReport(
        [RoleReport(role.name, kept=kept) for role, kept in zip(ROLES, Kept, strict=False)],
        {"eu-west-1": 1},
    )
    telemetry.publish(report, Metrics(namespace=telemetry.NAMESPACE, service=SERVICE))
    found = set()
    for line in capsys.readouterr().out.splitlines():
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == telemetry.NAMESPACE
            for metric in directive["Metrics"]:
                for dimensions in directive["Dimensions"]:
                    found.add((metric["Name"], tuple(sorted(dimensions))))
    return found


SERVICE = "dms-prerequisite-roles"


def test_operations_documents_every_metric_the_sweep_emits(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The template sets it on the function; single metrics take their service from it.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.partition("### Metrics and the alarm")[2].partition("\n#")[0]
    documented = {
        (row[0].strip("` "), tuple(sorted(d.strip("` ") for d in row[1].split(","))))
        for row in (
            line.split("|")[1:3]
            for line in section.splitlines()
            if re.match(r"^\| `[A-Z][A-Za-z]+` \| `", line)
        )
    }

    assert emitted_metrics(capsys) == documented
    for kept in Kept:
        if kept is not Kept.DRY_RUN:  # only the command line's dry run keeps a role so
            assert f"`{kept.value}`" in section, kept


def test_the_alarm_example_watches_what_the_sweep_emits() -> None:
    alarm = cfn_yaml.load(str(ROOT / "examples" / "alarm-failed-lookups.yaml"))
    (properties,) = [
        r["Properties"]
        for r in alarm["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]

    assert properties["Namespace"] == telemetry.NAMESPACE
    assert properties["MetricName"] == telemetry.FAILED_LOOKUPS
    assert properties["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
