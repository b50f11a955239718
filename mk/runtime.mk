# Build with the SAM CLI and run the built artifact as Lambda does, without
# Docker (see docs/local-runtime.md). Included by the Makefile before `test`.
# Like every target here, these set up what they need on a fresh machine.
# Set-up and build output goes to stderr: `make invoke` keeps stdout for JSON.

export SAM_CLI_TELEMETRY := 0

SAM_VENV      := .venv-sam
SAM           := $(SAM_VENV)/bin/sam
SAM_STAMP     := $(SAM_VENV)/.installed
RUNTIME_VENV  := .venv-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
# The template's Runtime is python3.13: sam build and the local runtime need that
# interpreter. tools/find_python.sh finds it (pyenv, then PATH) or says what to install.
LAMBDA_PYTHON := 3.13
FIND_PYTHON   := sh tools/find_python.sh $(LAMBDA_PYTHON)
BUILT         := .aws-sam/build/template.yaml
HANDLER_FILES := $(shell find handler -name '*.py' -not -path '*/__pycache__/*') handler/requirements.txt
# sam validate wants a region even offline; with --lint it never calls AWS.
VALIDATE_REGION := us-east-1
EVENT  ?= events/create.json
ROUNDS ?= 5

.PHONY: build runtime-venv invoke sam-validate measure-runtime

# `make test` builds the artifact and the runtime first, so the runtime tests
# always run what `sam deploy` would ship.
TEST_GATES += sam-validate build runtime-venv

build: $(BUILT) ## sam build into .aws-sam/build, plus the artifact's bytecode (Python 3.13)

runtime-venv: $(RUNTIME_STAMP) ## Lambda's Python 3.13 with awslambdaric and the runtime's boto3 (.venv-runtime)

$(SAM_STAMP): tools/requirements-sam.txt
	@echo "creating $(SAM_VENV) (SAM CLI)" >&2
	@$(PYTHON) -m venv --clear $(SAM_VENV)
	@$(SAM_VENV)/bin/pip install --quiet --upgrade pip >&2
	@$(SAM_VENV)/bin/pip install --quiet -r tools/requirements-sam.txt >&2
	@touch $@

$(RUNTIME_STAMP): tools/requirements-runtime.txt
	@py=$$($(FIND_PYTHON)) || exit 1; \
	  echo "creating $(RUNTIME_VENV) (awslambdaric on $$py)" >&2; \
	  "$$py" -m venv --clear $(RUNTIME_VENV)
	@$(RUNTIME_VENV)/bin/pip install --quiet -r tools/requirements-runtime.txt >&2
	@touch $@

# sam build checks that python3.13 is on PATH: put the one found first.
# Then compile the bytecode with that same Python: Lambda's code directory is
# read-only, so without it every cold start compiles every module again (about a
# third of the init time; docs/performance.md). unchecked-hash: the files never
# change after the build, so Python need not stat the sources to trust them.
$(BUILT): $(SAM_STAMP) template.yaml samconfig.toml $(HANDLER_FILES)
	@py=$$($(FIND_PYTHON)) || exit 1; \
	  echo "sam build (python$(LAMBDA_PYTHON) = $$py)" >&2; \
	  PATH="$$(dirname "$$py"):$$PATH" $(SAM) build --template-file template.yaml >&2 && \
	  "$$py" -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build/Function >&2
	@touch $@

sam-validate: $(SAM_STAMP) ## sam validate --lint on template.yaml (offline)
	$(SAM) validate --lint --region $(VALIDATE_REGION) --template-file template.yaml

# The stand-in for `sam local invoke -e $(EVENT)`; several events run in turn on
# one warm function and one IAM. INVOKE_FLAGS=--sam-local keeps the event's
# placeholder ResponseURL and sets AWS_SAM_LOCAL, exactly as sam local invoke does.
invoke: $(STAMP) $(BUILT) $(RUNTIME_STAMP) ## the built function on EVENT="events/a.json ...", as sam local invoke (no Docker)
	@$(BIN)/python -m tools.invoke $(INVOKE_FLAGS) $(EVENT)

# Init and invoke durations and peak memory under the local runtime.
measure-runtime: $(STAMP) $(BUILT) $(RUNTIME_STAMP) ## init and invoke durations, peak memory under the local runtime (ROUNDS=5)
	@$(BIN)/python -m tools.measure_runtime --rounds $(ROUNDS)
