"""The deployment artifact the bench measures: its size, its make-up, and a copy of it.

The bench measures what ships: ``.aws-sam/build/Function/`` as ``make build``
leaves it, which is ``sam build`` plus bytecode compiled for the runtime's
Python (Lambda's code directory is read-only, so without it every cold start
compiles every module it imports). ``make bench`` builds it first; run alone,
the bench refuses an artifact that is missing, older than ``handler/`` or
without that bytecode, rather than measure something else.
:func:`source_only_copy` is what a plain ``sam build`` ships, for comparison.
"""

from __future__ import annotations

import filecmp
import io
import shutil
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BenchError

SAM_ARTIFACT = Path(".aws-sam") / "build" / "Function"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


@dataclass(frozen=True)
class Artifact:
    path: Path
    #: Which artifact this is, for the report.
    origin: str


def _handler_files(handler: Path) -> list[Path]:
    return sorted(
        p.relative_to(handler)
        for p in handler.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)
    )


def _stale_because(built: Path, handler: Path) -> str | None:
    """Why the SAM artifact is not what ships from the current handler code, or None."""
    if not (built / "app.py").is_file():
        return f"{built} does not exist"
    for relative in _handler_files(handler):
        copy = built / relative
        if not copy.is_file() or not filecmp.cmp(handler / relative, copy, shallow=False):
            return f"{built} is older than handler/{relative}"
    shipped = {p.name for p in (built / "dms_prereq").glob("*.py")}
    current = {p.name for p in (handler / "dms_prereq").glob("*.py")}
    if shipped != current:
        return f"{built} has other dms_prereq modules than handler/"
    if not any((built / "__pycache__").glob("app.*.pyc")):
        return f"{built} has no bytecode (a plain sam build; make build compiles it)"
    return None


def locate(repo: Path) -> Artifact:
    """The artifact ``make build`` left, when it is current; else BenchError."""
    built = repo / SAM_ARTIFACT
    stale = _stale_because(built, repo / "handler")
    if stale is not None:
        raise BenchError(f"{stale}: run `make bench`, which builds it first (make build)")
    return Artifact(built, "make build (.aws-sam/build/Function, with its bytecode)")


def zip_bytes(root: Path) -> tuple[int, dict[str, int]]:
    """Size of the deployment zip, and compressed bytes per top-level entry (largest first)."""
    buffer = io.BytesIO()
    parts: Counter[str] = Counter()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            name = path.relative_to(root).as_posix()
            archive.write(path, name)
            top = name.split("/", 1)[0]
            if top.endswith(".dist-info") or top.endswith(".data"):
                top = top.split("-", 1)[0]  # count a package's metadata with the package
            parts[top] += archive.getinfo(name).compress_size
    return len(buffer.getvalue()), dict(parts.most_common())


def source_only_copy(artifact: Path, target: Path) -> Path:
    """A copy of ``artifact`` without bytecode: what a plain ``sam build`` ships."""
    shutil.copytree(artifact, target, ignore=_SKIP)
    return target
