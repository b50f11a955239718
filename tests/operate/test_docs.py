"""The generated docs match the code, and the generator touches only its markers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dms_prereq.catalogue import ROLES
from dms_prereq.properties import DEFINITIONS
from dms_prereq.resource import attributes as answer_attributes

from tools import gen_docs

ROOT = Path(__file__).resolve().parents[2]


def test_reference_and_readme_tables_are_up_to_date() -> None:
    assert gen_docs.stale() == [], "generated docs are stale: run `make docs`"


def test_readme_markers_come_in_pairs() -> None:
    text = (ROOT / "README.md").read_text()
    for name in ("properties", "attributes"):
        starts = text.count(gen_docs.marker(name, "start"))
        ends = text.count(gen_docs.marker(name, "end"))
        assert starts == ends <= 1, f"README.md has broken {name} markers"


def test_documented_attributes_are_the_ones_the_function_returns() -> None:
    documented = [name for name, _ in gen_docs.attributes()]

    assert documented == list(answer_attributes({}))


def test_reference_documents_every_property_and_attribute() -> None:
    text = gen_docs.reference()

    for definition in DEFINITIONS:
        assert f"### `{definition.name}`" in text
        assert f'"{definition.name}" :' in text
    for role in ROLES:
        assert f"`{role.arn_attribute}`" in text
    assert re.search(r"`DmsPrerequisiteRoles-[0-9a-f]{20}`", text)


def test_generator_replaces_only_between_markers() -> None:
    start, end = gen_docs.marker("properties", "start"), gen_docs.marker("properties", "end")
    text = f"# Title\n\nintro\n{start}\nold table\n{end}\n\nafter | text\n"

    updated = gen_docs.replace_between(text, "properties", "NEW")

    assert updated == f"# Title\n\nintro\n{start}\nNEW\n{end}\n\nafter | text\n"
    assert gen_docs.replace_between(updated, "properties", "NEW") == updated
    assert gen_docs.replace_between("no markers here\n", "properties", "NEW") == (
        "no markers here\n"
    )


def test_a_lone_marker_is_an_error() -> None:
    with pytest.raises(ValueError, match="generated:attributes"):
        gen_docs.replace_between(f"{gen_docs.marker('attributes', 'start')}\n", "attributes", "NEW")


def test_pipes_in_table_cells_are_escaped() -> None:
    table = gen_docs.properties_table()

    assert "true \\| false" in table
    assert all(line.count(" | ") >= 4 for line in table.splitlines()[2:])
