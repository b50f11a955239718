# Benchmarks: the function's cold start, IAM calls, wall time, package size and
# memory against the goals of docs/performance.md. Included by the Makefile
# before its `test` rule. `make bench` needs only the development environment:
# it uses .aws-sam/build/Function when that is current (else builds an
# equivalent) and Lambda's Python from .venv-runtime when present.

.PHONY: bench bench-lint

# The bench code is linted and type-checked with the rest; it is never timed by `make test`.
TEST_GATES += bench-lint

# Prints the table and writes bench/results.json (one to two minutes).
# BENCH_FLAGS, e.g. --rounds 41 --cold-rounds 30, trades time for steadier medians.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_FLAGS)

bench-lint: $(STAMP)
	$(BIN)/ruff check bench
	$(BIN)/ruff format --check bench
	$(BIN)/mypy bench
