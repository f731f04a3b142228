"""`kaltura-export backfill` against the Kaltura emulator and a moto server over HTTP: lands everything with a
progress bar, a second run skips it all, and a run interrupted with Ctrl-C (SIGINT) resumes with only what was missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from kaltura_export.cli import main
from local.aws import MotoServer, Stack
from local.kaltura_emulator import KalturaEmulator
from tests.conftest import ROOT

DAYS, REPORTS = 90, 3  # 2026-01-01 .. 2026-03-31


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, stack: Stack, emulator: KalturaEmulator) -> dict[str, str]:
    env = {
        **stack.env(),
        "KALTURA_SERVICE_URL": emulator.url,
        "RETRY_BASE_DELAY": "0",
        "TIMEZONE": "UTC",
        "PERIOD": "daily",
    }
    for k in ("REPORTS", "LOOKBACK", "MAX_CONCURRENCY", "EXPORT_PREFIX", "KALTURA_SECRET_ARNS", "HEAL_LIMIT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def keys(moto: MotoServer, bucket: str, prefix: str) -> list[str]:
    pages = moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


def printed_summary(moto: MotoServer, bucket: str, out: str) -> dict[str, Any]:
    """The run summary whose URI the command printed last (two runs may start within one second)."""
    uri = [line for line in out.splitlines() if line.startswith("Full summary: s3://")][-1]
    key = uri.split(f"s3://{bucket}/", 1)[1]
    body = moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    summary: dict[str, Any] = json.loads(body)
    return summary


def statuses(summary: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for unit in summary["reports"]:
        out[unit["status"]] = out.get(unit["status"], 0) + 1
    return out


def report_calls(emulator: KalturaEmulator) -> int:
    return len(emulator.calls)


def test_backfill_lands_90_days_then_a_second_run_skips_them_all(
    cli_env: dict[str, str],
    moto_server: MotoServer,
    stack: Stack,
    emulator: KalturaEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["backfill", "--from", "2026-01-01", "--to", "2026-03-31", "--concurrency", "8"]) == 0
    out, err = capsys.readouterr()
    csvs = [k for k in keys(moto_server, stack.bucket, "kaltura/") if k.endswith(".csv")]
    manifests = keys(moto_server, stack.bucket, "kaltura/_manifests/")
    assert len(csvs) == len(manifests) == DAYS * REPORTS
    assert {k.split("/")[1] for k in csvs} == {"rooms", "attendees", "breakout_rooms"}
    assert f"{DAYS * REPORTS}/{DAYS * REPORTS}" in err  # the progress bar reached the end
    assert "landed 270, skipped 0, failed 0" in err
    assert out.startswith("SUCCEEDED:")
    assert statuses(printed_summary(moto_server, stack.bucket, out)) == {"SUCCEEDED": DAYS * REPORTS}
    assert report_calls(emulator) == DAYS * REPORTS

    assert main(["backfill", "--from", "2026-01-01", "--to", "2026-03-31", "--concurrency", "8"]) == 0
    out, err = capsys.readouterr()
    assert report_calls(emulator) == DAYS * REPORTS  # nothing asked of Kaltura again
    second = printed_summary(moto_server, stack.bucket, out)
    assert statuses(second) == {"SKIPPED": DAYS * REPORTS}
    assert all(u["rows"] is not None and u["s3_uri"] and u["error"] is None for u in second["reports"])
    assert "skipped 270" in err

    # --force exports again; a landed object that no longer matches its manifest is not skipped either
    s3 = moto_server.client("s3")
    tampered = sorted(csvs)[0]
    s3.put_object(Bucket=stack.bucket, Key=tampered, Body=b"not what the manifest recorded\n")
    assert main(["backfill", "--from", "2026-01-01", "--to", "2026-01-01", "--reports", tampered.split("/")[1]]) == 0
    assert statuses(printed_summary(moto_server, stack.bucket, capsys.readouterr().out)) == {"SUCCEEDED": 1}
    assert s3.get_object(Bucket=stack.bucket, Key=tampered)["Body"].read() != b"not what the manifest recorded\n"
    assert main(["backfill", "--from", "2026-01-01", "--to", "2026-01-02", "--force", "--no-progress"]) == 0
    assert statuses(printed_summary(moto_server, stack.bucket, capsys.readouterr().out)) == {"SUCCEEDED": 2 * REPORTS}


def test_an_interrupted_backfill_resumes_with_only_what_was_missing(
    cli_env: dict[str, str],
    moto_server: MotoServer,
    stack: Stack,
    emulator: KalturaEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.latency = 0.05  # slow enough that Ctrl-C lands mid-run
    env = {**os.environ, **cli_env, "PYTHONPATH": str(ROOT / "layers" / "exporter")}
    command = [sys.executable, "-m", "kaltura_export.cli", "backfill", "--from", "2026-01-01", "--to", "2026-03-31"]
    proc = subprocess.Popen(
        [*command, "--concurrency", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while len(keys(moto_server, stack.bucket, "kaltura/_manifests/")) < 12:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the backfill landed nothing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "stopping after the units in flight" in err
    assert "Traceback" not in err
    assert "INTERRUPTED" in out or "stopped after" in out
    landed = len(keys(moto_server, stack.bucket, "kaltura/_manifests/"))
    assert 12 <= landed < DAYS * REPORTS
    # every landed object has its manifest: the units in flight finished, none was cut
    assert len([k for k in keys(moto_server, stack.bucket, "kaltura/") if k.endswith(".csv")]) == landed
    interrupted = printed_summary(moto_server, stack.bucket, out)
    assert interrupted["status"] == "FAILED" and interrupted["error"]["code"] == "INTERRUPTED"

    emulator.latency = 0
    emulator.reset(calls=True)
    assert main(["backfill", "--from", "2026-01-01", "--to", "2026-03-31", "--concurrency", "8"]) == 0
    resumed = printed_summary(moto_server, stack.bucket, capsys.readouterr().out)
    assert statuses(resumed) == {"SKIPPED": landed, "SUCCEEDED": DAYS * REPORTS - landed}
    assert report_calls(emulator) == DAYS * REPORTS - landed
    assert len(keys(moto_server, stack.bucket, "kaltura/_manifests/")) == DAYS * REPORTS
