# Operating the application: the dms-prereq-roles command line and the docs
# generated from the code. Included by the Makefile before its `test` rule.

.PHONY: docs docs-check operate-lint

# The command line lives in cli/ (outside the Lambda artifact): lint and
# type-check it with the rest. Its tests (tests/operate) run with pytest.
TEST_GATES += operate-lint docs-check

# Rewrite docs/reference.md and the README's generated tables from the code.
docs: $(STAMP)
	$(BIN)/python -m tools.gen_docs

docs-check: $(STAMP)
	$(BIN)/python -m tools.gen_docs --check

operate-lint: $(STAMP)
	$(BIN)/ruff check cli
	$(BIN)/ruff format --check cli
	$(BIN)/mypy cli
