"""Every link between the docs leads somewhere: the file exists, and so does the heading.

A reader follows README.md into docs/ and examples/ by links such as
``docs/reliability.md#races-and-how-the-code-survives-each``; a heading renamed
in one page would otherwise leave the link pointing at the top of the page.
Anchors are made as GitHub makes them from a heading: lower case, punctuation
other than ``-`` and ``_`` dropped, spaces turned into hyphens.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.markdown import PAGES, ROOT, fences

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$")


def slug(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    inside = {n for f in fences(page) for n in range(f.line, f.line + f.text.count("\n") + 2)}
    found = set()
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading and number not in inside:
            found.add(slug(heading.group(1)))
    return found


def links() -> list[tuple[str, Path, str]]:
    """(where, target file, anchor) of every relative link in the docs."""
    found = []
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            for target in _LINK.findall(line):
                if re.match(r"^[a-z]+:", target):
                    continue  # https:, mailto:
                path, _, anchor = target.partition("#")
                resolved = (page.parent / path).resolve() if path else page
                found.append((f"{page.relative_to(ROOT)}:{number}", resolved, anchor))
    return found


def test_the_docs_link_to_each_other() -> None:
    assert len([link for link in links() if link[2]]) > 5


@pytest.mark.parametrize(("where", "target", "anchor"), links(), ids=[w for w, _, _ in links()])
def test_every_link_leads_to_a_file_and_heading_that_exist(
    where: str, target: Path, anchor: str
) -> None:
    assert target.exists(), f"{where}: {target.relative_to(ROOT)} does not exist"
    if anchor:
        assert target.suffix == ".md", f"{where}: an anchor into {target.name}"
        assert anchor in anchors(target), f"{where}: no heading #{anchor} in {target.name}"


def test_anchors_are_made_as_github_makes_them() -> None:
    assert slug('"Property PermissionsBoundary is now the X parameter"') == (
        "property-permissionsboundary-is-now-the-x-parameter"
    )
    assert slug("Ownership: requests only add; the sweep deletes") == (
        "ownership-requests-only-add-the-sweep-deletes"
    )
    assert slug("The `dms-prereq-roles` command line") == "the-dms-prereq-roles-command-line"
