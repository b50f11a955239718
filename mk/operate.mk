# Operating the application: the docs generated from the code. Included by the
# Makefile. The dms-prereq-roles command line (cli/, outside the Lambda
# artifact) is linted and type-checked by `make lint` and `make typecheck`; its
# tests (tests/operate) run with pytest.

.PHONY: docs docs-check

TEST_GATES += docs-check

docs: $(STAMP) ## regenerate docs/reference.md, schema/ and the README's generated tables from the code
	$(BIN)/python -m tools.gen_docs

docs-check: $(STAMP) ## fail when docs/reference.md, the schema or the README's tables differ from the code
	$(BIN)/python -m tools.gen_docs --check
