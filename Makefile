# Every target sets up what it needs on a fresh machine: the virtual
# environment is created and filled from the pinned requirements on first use.
#
# Each target a user runs carries a `## what it does` comment on its rule line;
# `make help` lists them all from those comments (here and in mk/*.mk), so the
# list cannot fall behind the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# mypy checks the function, its command line and the bench (one run each:
# handler/ and cli/ are separate import roots). ruff checks all Python code.
TYPED_DIRS := handler cli bench

.PHONY: demo test lint typecheck unit e2e venv clean help

.DEFAULT_GOAL := help

# Gates that `make test` runs besides lint, types and pytest; mk/*.mk add to it.
TEST_GATES :=
-include mk/*.mk

# The story plays on the built artifact under the local Lambda runtime
# (mk/runtime.mk), which needs Python 3.13. Where none is found it still plays,
# on the Python that runs make (3.11+, .venv's) with handler/'s source in a fresh
# process per request, and tools.demo says so in one line: `make test` and
# `make build` still need 3.13. The same search as `make build` decides;
# LAMBDA_PYTHON_BIN=none (see tools/find_python.sh) forces the fallback.
demo: $(STAMP) ## two stacks share the DMS roles on a local IAM and CloudFormation
	@if $(FIND_PYTHON) >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory -s build runtime-venv && $(BIN)/python -m tools.demo; \
	else \
	  $(BIN)/python -m tools.demo --without-lambda-runtime; \
	fi

test: lint typecheck $(TEST_GATES) ## everything: lint, types, template checks and the whole test suite
	$(BIN)/pytest tests

# `.`: every Python file in the repository (function, CLI, tests and testkit,
# tools, bench, ...), less pyproject.toml's excludes (virtual environments, build
# output), so new code is linted without naming it here.
lint: $(STAMP) ## ruff (check and format) on all Python code, cfn-lint on the templates
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint --append-rules schema -- template.yaml examples/*.yaml

typecheck: $(STAMP) ## mypy --strict on the function, the command line and the bench
	@set -e; for dir in $(TYPED_DIRS); do echo "$(BIN)/mypy $$dir"; $(BIN)/mypy $$dir; done

unit: $(STAMP) ## the unit tests alone (tests/unit)
	$(BIN)/pytest tests/unit

e2e: $(STAMP) ## the end-to-end tests alone (real moto_server, HTTPS CloudFormation stand-in)
	$(BIN)/pytest -m e2e tests

venv: $(STAMP) ## the development environment (.venv) alone
	@:

$(STAMP): requirements-dev.txt handler/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: Python 3.11 or newer is needed as '$(PYTHON)' (make PYTHON=python3.13 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@# Built in isolation with the setuptools pyproject.toml asks for: the venv's own
	@# (none on 3.12+, too old on 3.11) cannot read its SPDX license string.
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

clean: ## remove virtual environments, build output and caches
	rm -rf $(VENV) .venv-* .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

help: ## what each target does (this list)
	@echo "usage: make TARGET; each target sets up what it needs first"
	@awk -F ':[^#]*## ' '/^[a-z][a-zA-Z0-9_-]*:[^=]*## / { printf "  make %-16s %s\n", $$1, $$2 }' \
	  $(MAKEFILE_LIST)
