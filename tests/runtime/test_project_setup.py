"""What sets the project up and runs it: make's targets, the Lambda Python search, packaging.

These pin down promises the README and docs make about the commands
themselves: ``make help`` lists every target, there is one ``lint``, ``make
bench`` builds what it measures and measures nothing else, ``make demo`` plays
on Python 3.11+ where 3.13 is missing, and installing the project raises no
packaging warning of its own making.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from packaging.licenses import canonicalize_license_expression
from packaging.requirements import Requirement

from bench import artifact, coldstart
from bench.harness import BenchError
from tools.lambda_runtime import ROOT, RUNTIME_PYTHON, FunctionConfig

MAKEFILES = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
FIND_PYTHON = ROOT / "tools" / "find_python.sh"


def make(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """stdout of ``make -s ARGS`` in the repository; fails the test on a non-zero status."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"make {' '.join(args)}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def phony_targets() -> set[str]:
    names: set[str] = set()
    for path in MAKEFILES:
        for line in path.read_text().splitlines():
            if line.startswith(".PHONY:"):
                names.update(line.removeprefix(".PHONY:").split())
    return names


# -- make help, lint, the default goal --------------------------------------------------
def test_make_help_lists_every_target_with_what_it_does():
    listed = {}
    for line in make("help").splitlines():
        match = re.fullmatch(r"  make (\S+)\s+(\S.*)", line)
        if match:
            listed[match[1]] = match[2]

    assert phony_targets(), "no .PHONY targets found"
    assert set(listed) == phony_targets()
    assert all(len(text) > 10 for text in listed.values()), listed


def test_make_alone_prints_help_and_only_the_makefile_sets_the_goal():
    assert make().startswith("usage: make")
    setters = [p.name for p in MAKEFILES if ".DEFAULT_GOAL" in p.read_text()]
    assert setters == ["Makefile"]


def test_one_lint_target_covers_all_python_code():
    assert {name for name in phony_targets() if "lint" in name} == {"lint"}
    commands = make("-n", "lint").splitlines()
    ruff = [c.split() for c in commands if re.search(r"/ruff (check|format --check) ", c)]
    assert len(ruff) == 2, commands
    python_dirs = {
        p.relative_to(ROOT).parts[0]
        for p in ROOT.rglob("*.py")
        if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    }
    assert python_dirs >= {"handler", "cli", "tests", "testkit", "tools", "bench"}
    for command in ruff:
        paths = {token for token in command[2:] if not token.startswith("-")}
        assert "." in paths or python_dirs <= paths, command
    assert any("cfn-lint" in c for c in commands)


# -- make bench: sets up, and measures, what ships --------------------------------------
def test_make_bench_builds_the_artifact_and_the_runtime_before_measuring():
    # -W: as if the file had just changed; -n: print what would run, run nothing.
    after_handler_change = make("-n", "-W", "handler/app.py", "bench")
    after_runtime_change = make("-n", "-W", "tools/requirements-runtime.txt", "bench")

    assert re.search(r"sam\S* build .*compileall.*bench\.run", after_handler_change, re.S)
    assert re.search(r"venv .*\.venv-runtime.*bench\.run", after_runtime_change, re.S)


def test_bench_refuses_anything_but_the_shipped_artifact(tmp_path):
    (tmp_path / "handler").mkdir()
    (tmp_path / "handler" / "app.py").write_text("IAM = None\n")
    with pytest.raises(BenchError, match="does not exist: run `make bench`"):
        artifact.locate(tmp_path)

    built = tmp_path / artifact.SAM_ARTIFACT
    built.mkdir(parents=True)
    (built / "dms_prereq").mkdir()
    (tmp_path / "handler" / "dms_prereq").mkdir()
    shutil.copy2(tmp_path / "handler" / "app.py", built / "app.py")
    with pytest.raises(BenchError, match="no bytecode"):
        artifact.locate(tmp_path)

    (built / "__pycache__").mkdir()
    (built / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"")
    assert artifact.locate(tmp_path).path == built

    (tmp_path / "handler" / "app.py").write_text("IAM = 'changed'\n")
    with pytest.raises(BenchError, match=r"older than handler/app\.py"):
        artifact.locate(tmp_path)


def test_bench_refuses_another_python_than_lambdas(tmp_path):
    with pytest.raises(BenchError, match=r"\.venv-runtime .*missing: run `make bench`"):
        coldstart.interpreter(tmp_path)


def test_bench_measures_the_built_artifact_on_the_runtime_python(built: FunctionConfig):
    assert artifact.locate(ROOT).path == built.code_dir
    python = coldstart.interpreter(ROOT)
    assert python.path == str(RUNTIME_PYTHON)
    assert python.label.startswith(f"Python {built.python_version}.")


# -- Python 3.13, and make demo without it ----------------------------------------------
def find_python(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    shell = shutil.which("sh") or "/bin/sh"
    return subprocess.run(
        [shell, str(FIND_PYTHON), "3.13"], capture_output=True, text=True, env=env, timeout=60
    )


def test_find_python_checks_the_version_not_the_name(tmp_path):
    # A PATH holding nothing but a "python3.13" that is really this test's Python:
    # no pyenv, no other interpreter, so only the version check can refuse it.
    impostor = tmp_path / "python3.13"
    impostor.symlink_to(sys.executable)
    found = find_python({"PATH": str(tmp_path), "HOME": str(tmp_path)})

    assert found.returncode == 1
    assert found.stdout == ""
    assert found.stderr.count("\n") == 1 and "Python 3.13 not found" in found.stderr


def test_find_python_takes_only_the_interpreter_named_by_lambda_python_bin(tmp_path):
    searched = find_python({**os.environ, "LAMBDA_PYTHON_BIN": ""})
    assert searched.returncode == 0, searched.stderr
    real = searched.stdout.strip()

    chosen = find_python({**os.environ, "LAMBDA_PYTHON_BIN": real})
    refused = find_python({**os.environ, "LAMBDA_PYTHON_BIN": sys.executable})
    missing = find_python({**os.environ, "LAMBDA_PYTHON_BIN": "none"})

    assert chosen.returncode == 0 and chosen.stdout.strip() == real
    for failed in (refused, missing):
        assert failed.returncode == 1 and failed.stdout == ""
        assert failed.stderr.count("\n") == 1 and "LAMBDA_PYTHON_BIN=" in failed.stderr


def test_make_demo_without_python_313_plays_the_story_on_this_python():
    out = make("demo", env={"LAMBDA_PYTHON_BIN": "none"}, timeout=300)

    lines = out.splitlines()
    about = [line for line in lines if "3.13" in line]
    assert about == [lines[0]], "one line, first, says what is missing"
    assert "Python 3.13 not found" in lines[0]
    assert "`make test` and `make build` still need Python 3.13" in lines[0]
    assert re.search(r"on Python 3\.1[1-9]\.\d+", lines[0])
    steps = [line for line in lines if line.startswith("== ")]
    assert [step.split(".")[0] for step in steps] == [f"== {n}" for n in range(8)]
    assert out.count('"Status": "SUCCESS"') == 4
    # The ending: the second sweep deletes what nobody needs and says why it keeps the
    # role a console-made DMS subnet group uses; the last table shows it.
    ending = out[out.index(steps[-1]) :]
    assert "roles deleted 1" in ending
    assert "kept dms-vpc-role: DMS uses it: eu-west-1: 1 replication subnet groups" in ending
    assert re.search(r"^  dms-cloudwatch-logs-role +absent$", ending, re.MULTILINE)
    assert re.search(r"^  dms-vpc-role +created ", ending, re.MULTILINE)
    assert lines[-1].endswith("0 step(s) failed")


# -- packaging --------------------------------------------------------------------------
def test_license_is_an_spdx_expression_the_build_backend_reads():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    license_ = pyproject["project"]["license"]

    # A TABLE here makes setuptools >= 77 warn on every install (deprecated form).
    assert isinstance(license_, str)
    assert canonicalize_license_expression(license_) == license_
    assert (ROOT / "LICENSE").read_text().startswith("MIT No Attribution")
    # Older setuptools cannot read the string form: the build must ask for 77 or newer.
    (setuptools,) = [
        Requirement(r) for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")
    ]
    assert not setuptools.specifier.contains("76.1.0")
    assert setuptools.specifier.contains("77.0.3")
