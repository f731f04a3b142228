"""`kaltura-export check`, `status`, `run --dry-run` and its error lines, against the emulator and moto over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kaltura_export.cli import main
from local.aws import MotoServer, Stack, create_stack
from local.kaltura_emulator import KalturaEmulator


def use(monkeypatch: pytest.MonkeyPatch, stack: Stack, emulator: KalturaEmulator, **extra: str) -> None:
    for k in ("REPORTS", "PERIOD", "LOOKBACK", "MAX_CONCURRENCY", "EXPORT_PREFIX", "KALTURA_SECRET_ARNS"):
        monkeypatch.delenv(k, raising=False)
    env = {**stack.env(), "KALTURA_SERVICE_URL": emulator.url, "RETRY_BASE_DELAY": "0", "TIMEZONE": "UTC", **extra}
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def keys(moto: MotoServer, bucket: str) -> list[str]:
    pages = moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


def test_check_passes_against_the_emulator(
    monkeypatch: pytest.MonkeyPatch, stack: Stack, emulator: KalturaEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, stack, emulator)
    assert main(["check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith("ok") for line in lines[:-1]), lines
    assert lines[-1] == "all checks passed"
    text = "\n".join(lines)
    for name in ("service URL", "secret", "session (partner 4242)", "report rooms (6000)", "report attendees (6001)"):
        assert name in text
    assert "report breakout_rooms (6002)" in text and f"bucket {stack.bucket}: writable" in text
    assert f"topic {stack.topic_arn}: exists" in text


def test_check_names_a_bad_secret_and_a_missing_permission(
    monkeypatch: pytest.MonkeyPatch,
    moto_server: MotoServer,
    emulator: KalturaEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = create_stack(moto_server, {"partner_id": 4242, "admin_secret": "0" * 32, "user_id": "x"})
    use(monkeypatch, wrong, emulator)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert "session (partner 4242)" in line and "START_SESSION_ERROR" in line and "admin secret" in line
    assert "0" * 32 not in out

    # a USER session (no ANALYTICS_BASE): Kaltura answers SERVICE_FORBIDDEN, which check explains
    user_ks = emulator.mint_ks(session_type=0)
    limited = create_stack(moto_server, {"ks": user_ks})
    use(monkeypatch, limited, emulator)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    failures = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 3 and all("SERVICE_FORBIDDEN" in f and "ANALYTICS_BASE" in f for f in failures)
    assert "stored KS expiry" in out and user_ks not in out

    broken = create_stack(moto_server, "not json {")
    use(monkeypatch, broken, emulator)
    assert main(["check"]) == 1
    assert any(line.startswith("FAIL  secret") for line in capsys.readouterr().out.splitlines())


def test_dry_run_prints_the_plan_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    moto_server: MotoServer,
    stack: Stack,
    emulator: KalturaEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, stack, emulator)
    assert main(["run", "--from", "2026-03-01", "--to", "2026-03-02", "--reports", "attendees", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plan: 2 unit(s)")
    expected = "kaltura/attendees/partner_id=4242/dt=2026-03-01/attendees_daily_20260301T000000Z_20260302T000000Z.csv"
    assert f"s3://{stack.bucket}/{expected}" in out
    assert keys(moto_server, stack.bucket) == [] and emulator.calls == []


def test_status_shows_landed_missing_and_failed_periods(
    monkeypatch: pytest.MonkeyPatch,
    moto_server: MotoServer,
    stack: Stack,
    emulator: KalturaEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, stack, emulator, REPORTS="rooms")
    assert main(["backfill", "--from", "2026-01-01", "--to", "2026-01-03", "--no-progress"]) == 0
    emulator.faults.add("SEARCH_TOO_GENERAL", times=None)
    assert main(["run", "--from", "2026-01-05", "--to", "2026-01-05"]) == 1
    emulator.faults.clear()
    capsys.readouterr()

    assert main(["status", "--from", "2026-01-01", "--to", "2026-01-06"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("rooms partner 4242, 2026-01-01 .. 2026-01-06: 3 of 6 landed, 2 missing, 1 failed")
    state = {line.split()[0]: line.split()[1] for line in lines[2:]}
    assert state == {
        "2026-01-01": "LANDED",
        "2026-01-02": "LANDED",
        "2026-01-03": "LANDED",
        "2026-01-04": "MISSING",
        "2026-01-05": "FAILED",
        "2026-01-06": "MISSING",
    }
    failed = next(line for line in lines if line.split()[0] == "2026-01-05")
    assert "SEARCH_TOO_GENERAL" in failed
    manifest: dict[str, Any] = json.loads(
        moto_server.client("s3")
        .get_object(
            Bucket=stack.bucket,
            Key="kaltura/_manifests/rooms/partner_id=4242/dt=2026-01-02/rooms_daily_20260102T000000Z_20260103T000000Z.json",
        )["Body"]
        .read()
    )
    landed = next(line for line in lines if line.split()[0] == "2026-01-02")
    assert landed.split()[2] == str(manifest["rows"]) and manifest["finished_at"] in landed

    assert main(["status", "--from", "2026-01-01", "--to", "2026-01-06", "--gaps"]) == 0
    gaps = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert gaps == ["2026-01-04", "2026-01-05", "2026-01-06"]


def test_errors_are_one_line_with_an_exit_code(
    monkeypatch: pytest.MonkeyPatch, stack: Stack, emulator: KalturaEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, stack, emulator, PERIOD="dayly")
    assert main(["backfill", "--from", "2026-01-01", "--to", "2026-01-02"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'PERIOD must be one of hourly, daily, weekly, monthly; got "dayly"' in err
    assert "Traceback" not in err
    monkeypatch.setenv("PERIOD", "daily")
    assert main(["run", "--from", "2026-01-01"]) == 2
    assert "give both --from and --to" in capsys.readouterr().err
    assert main(["status", "--bucket", "no-such-bucket-kx"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("kaltura-export: error:") and "NoSuchBucket" in err and err.count("\n") == 1
