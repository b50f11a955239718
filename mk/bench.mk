# Benchmarks: the function's cold start, IAM calls, wall time, package size and
# memory against the goals of docs/performance.md. Included by the Makefile.
# Like every target, `make bench` sets up what it measures: the artifact
# `sam deploy` ships (make build: .aws-sam/build/Function with its bytecode)
# and Lambda's Python (make runtime-venv: 3.13 with the runtime's boto3). The
# bench refuses to measure anything else. Its code is linted and type-checked
# by `make lint` and `make typecheck`; it is never timed by `make test`.

.PHONY: bench

# Prints the table and writes bench/results.json (one to two minutes once built).
# BENCH_FLAGS, e.g. --rounds 41 --cold-rounds 30, trades time for steadier medians.
# build and runtime-venv are named as targets, not as their files: mk/runtime.mk,
# which defines those paths, is read after this file.
bench: $(STAMP) build runtime-venv ## performance figures against the goals (bench/results.json; BENCH_FLAGS=...)
	$(BIN)/python -m bench.run $(BENCH_FLAGS)
