"""Test configuration: fake AWS everywhere, a moto server and the Kaltura emulator on 127.0.0.1."""

from __future__ import annotations

import os

from local.env import fake_aws_env

# Before anything imports boto3 or Powertools: fake credentials, a region, no metadata probing, no user config.
os.environ.update(
    {
        **fake_aws_env(),
        "POWERTOOLS_SERVICE_NAME": "kaltura-export",
        "POWERTOOLS_METRICS_NAMESPACE": "KalturaExportTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
os.environ.pop("AWS_PROFILE", None)

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SAMPLES = ROOT.parent / "shared" / "reference" / "samples"


def load_event(name: str) -> dict[str, object]:
    """A sample event from events/, so tests and samples cannot drift apart."""
    return json.loads((EVENTS / name).read_text())


@pytest.fixture(autouse=True)
def _clean_powertools() -> Iterator[None]:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    yield
    parameters.clear_caches()
