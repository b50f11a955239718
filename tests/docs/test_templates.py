"""Every template a reader can copy passes cfn-lint, with this resource's rules.

A fenced ``yaml``/``json`` block in README.md or docs/ is a template: complete
enough to lint on its own (parameters declared, resources whole). A block that
is something else says so after its language (```` ```yaml cfnlintrc ````) and
must still parse; ``syntax`` blocks are the reference's generated outlines.
Everything in examples/ is a template too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.docs.lint import cfn_lint
from tests.docs.markdown import ROOT, Fence, all_fences
from tools import gen_docs

TEMPLATE_LANGUAGES = {"yaml": ".yaml", "yml": ".yaml", "json": ".json"}
EXAMPLES = sorted((ROOT / "examples").glob("*.y*ml"))
TEMPLATES = [f for f in all_fences() if f.language in TEMPLATE_LANGUAGES and not f.label]
LABELLED = [f for f in all_fences() if f.language in TEMPLATE_LANGUAGES and f.label]


def where(fence: Fence) -> str:
    return fence.where


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, list[str]]:
    """cfn-lint's findings for every snippet (written to a file each) and every example."""
    folder = tmp_path_factory.mktemp("snippets")
    files = []
    for number, fence in enumerate(TEMPLATES):
        path = folder / f"snippet-{number}{TEMPLATE_LANGUAGES[fence.language]}"
        path.write_text(fence.text)
        files.append(path)
    return cfn_lint([*files, *EXAMPLES])


def snippet_file(findings: dict[Path, list[str]], fence: Fence) -> Path:
    suffix = TEMPLATE_LANGUAGES[fence.language]
    name = f"snippet-{TEMPLATES.index(fence)}{suffix}"
    (path,) = [p for p in findings if p.name == name]
    return path


def test_the_docs_hold_the_templates_a_reader_starts_from() -> None:
    places = {f.path.name for f in TEMPLATES}

    assert {"README.md", "reference.md"} <= places
    assert EXAMPLES, "examples/ holds no template"


@pytest.mark.parametrize("fence", TEMPLATES, ids=where)
def test_every_template_snippet_passes_cfn_lint(
    findings: dict[Path, list[str]], fence: Fence
) -> None:
    found = findings[snippet_file(findings, fence)]

    # Each finding's line, as a line of the page the reader sees.
    shown = [
        f"{fence.path.name}:{fence.line + int(f.split(':')[0])}:{f.split(':', 1)[1]}" for f in found
    ]
    assert shown == [], f"{fence.where}: the template does not pass cfn-lint"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_cfn_lint(findings: dict[Path, list[str]], example: Path) -> None:
    assert findings[example.resolve()] == []


def test_syntax_blocks_are_the_generated_outlines() -> None:
    generated = {"json": gen_docs.syntax_json(), "yaml": gen_docs.syntax_yaml()}
    syntax = [f for f in LABELLED if f.label == "syntax"]

    assert sorted(f.language for f in syntax) == ["json", "yaml"]
    for fence in syntax:
        assert fence.path == gen_docs.REFERENCE, f"{fence.where}: only the reference has outlines"
        assert fence.text == generated[fence.language] + "\n"


@pytest.mark.parametrize("fence", [f for f in LABELLED if f.label != "syntax"], ids=where)
def test_blocks_that_are_not_templates_still_parse(fence: Fence) -> None:
    if fence.language == "json":
        json.loads(fence.text)
    else:
        assert yaml.safe_load(fence.text) is not None, f"{fence.where} is empty"
