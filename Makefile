# kaltura-export: every target that needs Python depends on the virtual environment it creates.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Nothing here may reach real AWS: fake credentials, a region, no instance-metadata probing.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_SESSION_TOKEN ?= testing
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_REGION ?= us-east-1
export AWS_EC2_METADATA_DISABLED := true
export POWERTOOLS_SERVICE_NAME ?= kaltura-export
export POWERTOOLS_METRICS_NAMESPACE ?= KalturaExport
export PYTHONDONTWRITEBYTECODE := 1

# Deploy tooling lives apart from .venv (which `make run` keeps light): the SAM CLI and checkov each get an
# environment of their own under .venv-tools/, because their boto3 pins conflict with each other and with the tests'.
TOOLS := .venv-tools
SAM_VENV := $(TOOLS)/sam
CHECKOV_VENV := $(TOOLS)/checkov
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export CKV_SKIP_PACKAGE_UPDATE_CHECK := true
export BC_SKIP_MAPPING := TRUE

.PHONY: venv run test unit integration lint typecheck clean tools build deploy-checks bench

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt layers/exporter/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# the kaltura-export command (pyproject.toml), editable: .venv/bin/kaltura-export runs this checkout's code
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

## Run the real export end to end against the local Kaltura emulator and a moto server.
run: venv
	$(BIN)/python -m local.run_local

## Unit, integration and deploy tests (on the sam build output), then the template checks, lint and types.
test: venv tools build
	DEPLOY_CHECKS=required $(BIN)/python -m pytest
	$(MAKE) --no-print-directory deploy-checks lint typecheck

unit: venv
	$(BIN)/python -m pytest tests/unit

integration: venv
	$(BIN)/python -m pytest tests/integration

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

## The SAM CLI and checkov in their own environments, and the deploy tests' extras (pyarrow) in .venv.
tools: venv $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(VENV)/.deploy-installed

$(SAM_VENV)/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet --quiet -r requirements-sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-tools.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --quiet -r requirements-tools.txt
	touch $@

$(VENV)/.deploy-installed: tests/deploy/requirements.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --quiet -r tests/deploy/requirements.txt
	touch $@

## sam build: the function and the layer for python3.13 on arm64 into .aws-sam/build (pip wheels, no Docker).
build: $(SAM_VENV)/.installed
	PIP="$(abspath $(SAM_VENV))/bin/python -m pip" $(SAM) build

## The template's static checks: cfn-lint (via sam validate --lint) reports nothing, checkov fails nothing.
deploy-checks: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

## Performance figures, each a ratio measured side by side in one run (not part of `make test`); see bench/README.md.
bench: venv
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
