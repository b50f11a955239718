"""cfn-lint as a stack author runs it on their templates: with the rules in schema/."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.docs.markdown import ROOT

SCHEMA_DIR = ROOT / "schema"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def cfn_lint(paths: Sequence[Path], *, rules_dir: Path = SCHEMA_DIR) -> dict[Path, list[str]]:
    """Every finding of one cfn-lint run over ``paths``, by file, as ``line: RULE message``.

    One run for all files: cfn-lint takes about a second to start. It runs from
    outside the repository, as a stack author's would, so that nothing of this
    project is importable but what ``--append-rules`` loads.
    """
    done = subprocess.run(
        [
            str(CFN_LINT),
            "--format",
            "json",
            "--append-rules",
            str(rules_dir),
            "--",
            *(str(p.resolve()) for p in paths),
        ],
        cwd=Path(paths[0]).resolve().parent if paths else None,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # 0: clean; 2, 4, 8 (and their sums): errors, warnings, informational findings.
    if done.returncode not in range(16) or not done.stdout.strip():
        raise AssertionError(f"cfn-lint did not run: {done.returncode}\n{done.stderr}")
    found: dict[Path, list[str]] = {Path(p).resolve(): [] for p in paths}
    for match in json.loads(done.stdout):
        where = Path(match["Filename"]).resolve()
        line = match["Location"]["Start"]["LineNumber"]
        found.setdefault(where, []).append(f"{line}: {match['Rule']['Id']} {match['Message']}")
    return found
