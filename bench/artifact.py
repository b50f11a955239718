"""The deployment artifact the bench measures: its size, its make-up, and copies of it.

``sam build`` (``make build``) leaves the function's artifact in
``.aws-sam/build/Function/``. When that is missing or older than ``handler/``,
an equivalent is built here: ``pip install --no-compile --target`` of
``handler/requirements.txt`` plus the handler code. SAM's Python builder
unpacks wheels without compiling them, so neither artifact carries bytecode;
Lambda's code directory is read-only, so every cold start compiles what it
imports from it. :func:`precompiled_copy` shows what shipping bytecode saves.
"""

from __future__ import annotations

import filecmp
import io
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

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
    """Why the SAM artifact does not hold the current handler code, or None when it does."""
    if not (built / "app.py").is_file():
        return f"{built} does not exist (run make build)"
    for relative in _handler_files(handler):
        copy = built / relative
        if not copy.is_file() or not filecmp.cmp(handler / relative, copy, shallow=False):
            return f"{built} is older than handler/{relative}"
    shipped = {p.name for p in (built / "dms_prereq").glob("*.py")}
    current = {p.name for p in (handler / "dms_prereq").glob("*.py")}
    if shipped != current:
        return f"{built} has other dms_prereq modules than handler/"
    return None


def locate(repo: Path, scratch: Path) -> tuple[Artifact, str | None]:
    """The SAM artifact if current, else one built in ``scratch``; and why SAM's was not used."""
    handler = repo / "handler"
    built = repo / SAM_ARTIFACT
    stale = _stale_because(built, handler)
    if stale is None:
        return Artifact(built, "sam build (.aws-sam/build/Function)"), None
    target = scratch / "artifact"
    installed = subprocess.run(  # noqa: S603 - fixed command line, our own interpreter
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            "-r",
            str(handler / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if installed.returncode != 0:
        raise RuntimeError(f"pip could not build the artifact:\n{installed.stderr[-2000:]}")
    shutil.copy2(handler / "app.py", target / "app.py")
    shutil.copy2(handler / "requirements.txt", target / "requirements.txt")
    shutil.copytree(handler / "dms_prereq", target / "dms_prereq", ignore=_SKIP)
    return Artifact(target, "pip install --no-compile --target (sam build equivalent)"), stale


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


def precompiled_copy(artifact: Path, python: str, target: Path) -> Path:
    """A copy of ``artifact`` with bytecode for ``python``, as a build step could ship it.

    ``unchecked-hash`` pycs are used without comparing them with the source's
    timestamp, which a zip round trip does not keep exactly.
    """
    shutil.copytree(artifact, target, ignore=_SKIP)
    subprocess.run(  # noqa: S603 - fixed command line
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(target),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return target
