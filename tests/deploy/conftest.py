"""Deploy checks: the template, the built artifacts and the landed data, seen as AWS and Athena would see them.

Some tests need what `make tools` and `make build` make (the SAM CLI's environment, .aws-sam/build, pyarrow).
`make test` makes them first and sets DEPLOY_CHECKS=required, so a missing piece fails the run there; a bare
`pytest` on a machine without them skips those tests and says which make target provides them.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.cfn import ROOT, Stack, load_template

TOOLS = ROOT / ".venv-tools"
SAM_PYTHON = TOOLS / "sam" / "bin" / "python"
BUILD = ROOT / ".aws-sam" / "build"


def need(what: str, ready: bool, how: str) -> None:
    """Skip (or, under `make test`, fail) when a prerequisite made by a make target is missing."""
    if ready:
        return
    message = f"{what} is missing: run `{how}` first"
    if os.environ.get("DEPLOY_CHECKS") == "required":
        pytest.fail(message)
    pytest.skip(message)


def need_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        need(f"the Python package {name}", False, "make tools")
        raise


@cache
def _template() -> dict[str, Any]:
    return load_template()


@pytest.fixture
def template() -> dict[str, Any]:
    """A fresh copy per test: tests may not leak edits into each other."""
    copy: dict[str, Any] = json.loads(json.dumps(_template()))
    return copy


#: values for the parameters without a default, as an administrator would give them
REQUIRED = {"KalturaSecretNames": "kaltura/university", "PartnerIds": "4242"}


@pytest.fixture
def deployed(template: dict[str, Any]) -> Stack:
    """The template with its defaults and the required parameters."""
    return Stack(template, REQUIRED)


@cache
def translated(parameters_json: str) -> dict[str, Any]:
    """template.yaml after the SAM transform, with these parameter values (JSON), from the SAM CLI's translator."""
    need("the SAM CLI environment (.venv-tools/sam)", SAM_PYTHON.exists(), "make tools")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [
            str(SAM_PYTHON),
            str(Path(__file__).with_name("sam_translate.py")),
            str(ROOT / "template.yaml"),
            parameters_json,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the SAM translator rejected template.yaml:\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result
