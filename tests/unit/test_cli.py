"""The command line's parsing and help, and the pure logic behind self-healing, status and the load bound."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from kaltura_export.catalogue import REPORTS, ROOMS
from kaltura_export.cli import EXIT_CODES, build_parser, main, settings_from
from kaltura_export.coverage import gaps, on_grid, parse_manifest_key
from kaltura_export.errors import EventError
from kaltura_export.fanout import map_concurrency
from kaltura_export.layout import manifest_key
from kaltura_export.settings import Settings
from kaltura_export.windows import Period, manual_windows

COMMANDS = ("run", "backfill", "status", "check", "emulator")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_help_documents_the_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert EXIT_CODES in text
    for code in ("0 ", "1 ", "2 ", "3 ", "130"):
        assert f"\n  {code}" in text


def test_help_names_each_commands_flags(capsys: pytest.CaptureFixture[str]) -> None:
    flags = {
        "run": ["--from", "--to", "--reports", "--dry-run", "--bucket", "--prefix", "--secret", "--service-url"],
        "backfill": ["--from", "--to", "--concurrency", "--force", "--notify", "--period", "--timezone"],
        "status": ["--from", "--to", "--gaps"],
        "emulator": ["--port"],
    }
    for command, names in flags.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert all(name in text for name in names), command


def test_backfill_needs_both_dates(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["backfill", "--from", "2026-01-01"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["backfill", "--from", "2026-01-01", "--to", "31/03/2026"])
    assert "expected a date YYYY-MM-DD, got '31/03/2026'" in capsys.readouterr().err


def test_flags_override_the_environment() -> None:
    args = build_parser().parse_args(
        [
            "backfill",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-02",
            "--secret",
            "a",
            "--secret",
            "b",
            "--period",
            "weekly",
        ]
    )
    env = {"EXPORT_BUCKET": "bucket-from-env", "KALTURA_SECRET_ARN": "env-secret", "PERIOD": "daily"}
    settings = settings_from(args, env)
    assert (
        settings.secret_ids == ("a", "b") and settings.period is Period.WEEKLY and settings.bucket == "bucket-from-env"
    )
    args = build_parser().parse_args(["backfill", "--from", "2026-01-01", "--to", "2026-01-02", "--concurrency", "8"])
    assert settings_from(args, env).max_concurrency == 8


def test_manifest_keys_parse_back_to_their_unit() -> None:
    tz = ZoneInfo("America/New_York")
    for window in manual_windows(date(2026, 3, 7), date(2026, 3, 9), Period.DAILY, tz):
        for report in REPORTS:
            ref = parse_manifest_key("exports/k", manifest_key("exports/k", report, 4242, window))
            assert ref is not None
            assert (ref.report, ref.partner_id, ref.period, ref.start, ref.end) == (
                report.name,
                4242,
                "daily",
                window.start,
                window.end,
            )
    assert parse_manifest_key("k", "k/rooms/partner_id=1/dt=2026-01-01/rooms_daily_x_y.csv") is None
    assert parse_manifest_key("k", "k/_runs/20260101T000000Z-abc.json") is None


def test_gaps_start_at_the_first_landed_period_and_skip_other_grids() -> None:
    tz = ZoneInfo("UTC")
    windows = manual_windows(date(2026, 1, 1), date(2026, 1, 10), Period.DAILY, tz)
    landed_days = (2, 3, 6)
    refs = [parse_manifest_key("k", manifest_key("k", ROOMS, 1, windows[d - 1])) for d in landed_days]
    # an hourly manifest (from before a change of PERIOD) is no evidence about daily windows
    hourly = manual_windows(date(2026, 1, 1), date(2026, 1, 1), Period.HOURLY, tz)[0]
    refs.append(parse_manifest_key("k", manifest_key("k", ROOMS, 1, hourly)))
    landed = on_grid([r for r in refs if r is not None], Period.DAILY, tz)
    assert sorted(w.dt.day for w in (windows[d - 1] for d in landed_days)) == sorted(s.day for s in landed)
    before = datetime(2026, 1, 9, tzinfo=UTC)
    assert [w.dt.day for w in gaps(landed, before, Period.DAILY, tz)] == [4, 5, 7, 8]
    assert gaps({}, before, Period.DAILY, tz) == []


@pytest.mark.parametrize(
    ("requested", "max_concurrency", "reserved", "expected"),
    [(2, 4, 0, 2), (16, 4, 0, 4), (16, 8, 5, 4), (1, 4, 2, 1)],
)
def test_the_maps_concurrency_is_bounded(requested: int, max_concurrency: int, reserved: int, expected: int) -> None:
    settings = Settings(bucket="b", secret_ids=("s",), max_concurrency=max_concurrency)
    assert map_concurrency(requested, settings, reserved) == expected


def test_no_map_when_reserved_concurrency_leaves_nothing() -> None:
    with pytest.raises(EventError, match="ReservedConcurrency 1"):
        map_concurrency(2, Settings(bucket="b", secret_ids=("s",)), 1)


def test_heal_limit_is_validated() -> None:
    base = {"EXPORT_BUCKET": "bucket-x", "KALTURA_SECRET_ARN": "s"}
    assert Settings.from_env(base).heal_limit == 9
    assert Settings.from_env(base | {"HEAL_LIMIT": "0"}).heal_limit == 0
    with pytest.raises(Exception, match="HEAL_LIMIT must be a whole number between 0 and 1000"):
        Settings.from_env(base | {"HEAL_LIMIT": "-1"})


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: kaltura-export" in capsys.readouterr().err
    assert isinstance(build_parser(), argparse.ArgumentParser)
