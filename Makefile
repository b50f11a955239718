# Every target sets up what it needs on a fresh machine: the virtual
# environment is created and filled from the pinned requirements on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit e2e clean help

.DEFAULT_GOAL := help

# Gates that `make test` runs besides lint, types and pytest; mk/*.mk add to it.
TEST_GATES :=
-include mk/*.mk

help:
	@echo "make demo   - play the two-stack story on local IAM (moto) and a local CloudFormation"
	@echo "make test   - lint, type-check, template checks and the whole test suite"
	@echo "make build  - sam build into .aws-sam/build, with compiled bytecode"
	@echo "make invoke EVENT=events/create.json - the built function on local IAM and CloudFormation"
	@echo "make bench  - performance figures (bench/results.json)"
	@echo "make docs   - regenerate docs/reference.md and the README tables"
	@echo "make clean  - remove virtual environments, build output and caches"

$(STAMP): requirements-dev.txt handler/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: Python 3.11 or newer is needed as '$(PYTHON)' (make PYTHON=python3.13 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . || $(BIN)/pip install --quiet --no-deps -e .
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m tools.demo

lint: $(STAMP)
	$(BIN)/ruff check handler tests tools testkit
	$(BIN)/ruff format --check handler tests tools testkit
	$(BIN)/cfn-lint template.yaml examples/*.yaml

typecheck: $(STAMP)
	$(BIN)/mypy handler

unit: $(STAMP)
	$(BIN)/pytest tests/unit

e2e: $(STAMP)
	$(BIN)/pytest -m e2e tests

test: lint typecheck $(TEST_GATES)
	$(BIN)/pytest tests

clean:
	rm -rf $(VENV) .venv-* .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
