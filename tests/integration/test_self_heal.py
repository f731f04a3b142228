"""Self-healing schedule: the real handler on scheduled events, against moto and the Kaltura emulator over HTTP.

LOOKBACK=1 makes each night export exactly one day, so three failed nights leave three days with no manifest,
and the fourth night lands them beside its own day.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kaltura_export.run import RunFailed
from local.aws import MotoServer, Stack
from local.kaltura_emulator import KalturaEmulator

REPORTS = ("rooms", "attendees", "breakout_rooms")


def night(day: str) -> dict[str, Any]:
    """The scheduled event of the night after ``day`` (LOOKBACK=1 exports exactly ``day``)."""
    return {"scheduled_time": f"{day}T02:00:00Z", "execution_id": f"night-{day}"}


def landed_days(moto: MotoServer, bucket: str) -> dict[str, set[str]]:
    pages = moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="kaltura/_manifests/")
    out: dict[str, set[str]] = {}
    for page in pages:
        for item in page.get("Contents", []):
            parts = item["Key"].split("/")
            out.setdefault(parts[4].removeprefix("dt="), set()).add(parts[2])
    return out


def units(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((u["window_start"][:10], u["report"], u["status"]) for u in summary["reports"])


def fail_nights(
    invoke: Callable[..., dict[str, Any]], stack: Stack, emulator: KalturaEmulator, days: list[str], **env: str
) -> None:
    emulator.faults.add("SERVICE_FORBIDDEN", times=None)  # fails every unit at once, lands nothing
    for day in days:
        with pytest.raises(RunFailed):
            invoke(night(day), stack, LOOKBACK="1", **env)
    emulator.faults.clear()


def test_three_failed_nights_heal_on_the_fourth(
    invoke: Callable[..., dict[str, Any]], moto_server: MotoServer, stack: Stack, emulator: KalturaEmulator
) -> None:
    invoke(night("2026-01-02"), stack, LOOKBACK="1")  # lands 01-01: the first landed period
    fail_nights(invoke, stack, emulator, ["2026-01-03", "2026-01-04", "2026-01-05"])
    assert set(landed_days(moto_server, stack.bucket)) == {"2026-01-01"}

    summary = invoke(night("2026-01-06"), stack, LOOKBACK="1")
    assert summary["status"] == "SUCCEEDED"
    days = ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    assert units(summary) == sorted((d, r, "SUCCEEDED") for d in days for r in REPORTS)
    assert landed_days(moto_server, stack.bucket) == {d: set(REPORTS) for d in ["2026-01-01", *days]}
    assert any(w.startswith("self-heal: re-exporting 9 earlier period(s)") for w in summary["warnings"])
    # the notification says so too
    sent = moto_server.sent_notifications(stack.topic_arn)
    assert "self-heal" in json.loads(sent[-1][1])["email"]

    # nothing missing any more: the next night exports only its own day, and nothing before the first landed day
    summary = invoke(night("2026-01-07"), stack, LOOKBACK="1")
    assert units(summary) == [("2026-01-06", r, "SUCCEEDED") for r in sorted(REPORTS)]


def test_healing_is_bounded_newest_first_and_can_be_turned_off(
    invoke: Callable[..., dict[str, Any]], moto_server: MotoServer, stack: Stack, emulator: KalturaEmulator
) -> None:
    invoke(night("2026-01-02"), stack, LOOKBACK="1", REPORTS="rooms")
    fail_nights(invoke, stack, emulator, ["2026-01-03", "2026-01-04", "2026-01-05"], REPORTS="rooms")

    off = invoke(night("2026-01-06"), stack, LOOKBACK="1", REPORTS="rooms", HEAL_LIMIT="0")
    assert units(off) == [("2026-01-05", "rooms", "SUCCEEDED")]

    bounded = invoke(night("2026-01-07"), stack, LOOKBACK="1", REPORTS="rooms", HEAL_LIMIT="2")
    # missing: 01-02, 01-03, 01-04; the two newest heal tonight, the oldest on the next night
    assert units(bounded) == [(f"2026-01-0{d}", "rooms", "SUCCEEDED") for d in (3, 4, 6)]
    assert any("1 more heal on the next runs (HEAL_LIMIT 2)" in w for w in bounded["warnings"])
    following = invoke(night("2026-01-08"), stack, LOOKBACK="1", REPORTS="rooms", HEAL_LIMIT="2")
    assert units(following) == [("2026-01-02", "rooms", "SUCCEEDED"), ("2026-01-07", "rooms", "SUCCEEDED")]
    assert set(landed_days(moto_server, stack.bucket)) == {f"2026-01-0{d}" for d in range(1, 8)}


def test_a_manual_run_does_not_heal(
    invoke: Callable[..., dict[str, Any]], moto_server: MotoServer, stack: Stack, emulator: KalturaEmulator
) -> None:
    invoke({"from": "2026-01-01", "to": "2026-01-01", "reports": ["rooms"]}, stack)
    summary = invoke({"from": "2026-01-05", "to": "2026-01-05", "reports": ["rooms"]}, stack)
    assert units(summary) == [("2026-01-05", "rooms", "SUCCEEDED")]
