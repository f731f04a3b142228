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

.PHONY: venv run test unit integration lint typecheck clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt layers/exporter/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

## Run the real export end to end against the local Kaltura emulator and a moto server.
run: venv
	$(BIN)/python -m local.run_local

## Unit and integration tests, then lint and types.
test: venv
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory lint typecheck

unit: venv
	$(BIN)/python -m pytest tests/unit

integration: venv
	$(BIN)/python -m pytest tests/integration

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
