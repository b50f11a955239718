# Prove it (docs/reliability.md): fault injection, random histories, races, bad
# input, least privilege and clean logs are pytest suites (tests/prove) that
# `make test` runs with the rest; this file adds the static security scan of
# template.yaml. Included by the Makefile before its `test` rule.

CHECKOV_VENV  := .venv-checkov
CHECKOV       := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: checkov prove

TEST_GATES += checkov

# checkov pins what it needs in ways that clash with the dev tools: its own venv.
$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	@touch $@

# Any finding fails. A suppression is a `checkov:skip=CHECK:reason` comment in
# template.yaml, and one without a reason fails too. Offline: no guideline download.
checkov: $(CHECKOV_STAMP) ## static security scan of template.yaml (its own venv)
	@! grep -nE 'checkov:skip=[A-Z0-9_]+[[:space:]]*(:[[:space:]]*)?$$' template.yaml || \
	  { echo "error: every checkov:skip in template.yaml needs a reason"; exit 1; }
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml

# The proving suites alone; their figures print at the end (docs/reliability.md).
prove: $(STAMP) ## the proving suites alone (tests/prove), figures at the end
	$(BIN)/pytest -p no:cacheprovider tests/prove
