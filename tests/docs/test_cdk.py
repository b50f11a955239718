"""Every CDK snippet in the docs compiles as written and synthesizes a template cfn-lint passes.

The TypeScript toolchain (aws-cdk-lib, constructs, typescript, pinned by
``cdk/package-lock.json``) is installed with ``npm ci`` into ``.venv-cdk/`` on
first use, beside the project's other environments, and again when the lock
file changes. Without node and npm the test is skipped, saying so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.lint import cfn_lint
from tests.docs.markdown import ROOT, Fence, all_fences

SOURCE = Path(__file__).with_name("cdk")
HOME = ROOT / ".venv-cdk"
SNIPPETS = [f for f in all_fences() if f.language in ("ts", "typescript")]


def _locked() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((SOURCE / name).read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def toolchain() -> Path:
    """.venv-cdk with node_modules as the lock file pins them."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node and npm are needed to compile the CDK snippets of docs/")
    stamp = HOME / ".installed"
    if not stamp.exists() or stamp.read_text() != _locked():
        HOME.mkdir(exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SOURCE / name, HOME / name)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HOME,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, f"npm ci in {HOME} failed:\n{done.stderr}"
        stamp.write_text(_locked())
    return HOME


@pytest.fixture
def workspace(toolchain: Path) -> Iterator[Path]:
    """A folder inside .venv-cdk, so that the snippets find its node_modules."""
    folder = toolchain / "runs" / uuid.uuid4().hex
    (folder / "snippets").mkdir(parents=True)
    shutil.copy(SOURCE / "tsconfig.json", folder / "tsconfig.json")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_docs_hold_a_cdk_snippet() -> None:
    assert [f.path.name for f in SNIPPETS] == ["operations.md"]


def compile_snippets(workspace: Path, toolchain: Path) -> dict[str, Fence]:
    """Compile every snippet; returns the compiled module of each."""
    names = {}
    for number, fence in enumerate(SNIPPETS):
        names[f"snippet_{number}"] = fence
        (workspace / "snippets" / f"snippet_{number}.ts").write_text(fence.text)
    done = subprocess.run(
        [str(toolchain / "node_modules" / ".bin" / "tsc"), "-p", str(workspace)],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # tsc's own "snippets/snippet_0.ts(12,14)" becomes the line of the page.
    errors = []
    for line in done.stdout.splitlines():
        name, _, rest = line.partition(".ts(")
        found = names.get(Path(name).name)
        if found and rest.split(",")[0].isdigit():
            errors.append(f"{found.path.name}:{found.line + int(rest.split(',')[0])}: {line}")
        else:
            errors.append(line)
    assert done.returncode == 0 and not errors, "\n".join(errors) or done.stderr
    return names


def test_cdk_snippets_compile_and_synthesize_a_template_that_passes_cfn_lint(
    workspace: Path, toolchain: Path
) -> None:
    compiled = compile_snippets(workspace, toolchain)

    templates = []
    for name, fence in compiled.items():
        assembly = workspace / "cdk.out" / name
        done = subprocess.run(
            ["node", str(workspace / "out" / f"{name}.js")],
            cwd=workspace,
            env={
                "PATH": str(Path(shutil.which("node") or "node").parent),
                "CDK_OUTDIR": str(assembly),
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{fence.where}: the app does not synthesize\n{done.stderr}"
        found = sorted(assembly.glob("*.template.json"))
        assert found, f"{fence.where}: the app synthesizes no stack"
        for template in found:
            types = {r["Type"] for r in json.loads(template.read_text())["Resources"].values()}
            assert "Custom::DmsPrerequisiteRoles" in types, template.name
        templates += found

    assert {str(t): f for t, f in cfn_lint(templates).items() if f} == {}
