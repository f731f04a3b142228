from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from kaltura_export.catalogue import ATTENDEES
from kaltura_export.errors import EventError
from kaltura_export.events import ManualRequest, ScheduledRequest, UnitRequest, parse_event
from tests.conftest import EVENTS, load_event


def test_scheduler_event() -> None:
    req = parse_event(load_event("scheduled.json"))
    assert req == ScheduledRequest(datetime(2026, 12, 3, 2, tzinfo=UTC), "c0ffee00-1234-4bcd-8ef0-0123456789ab")


def test_classic_rule_event() -> None:
    req = parse_event(load_event("scheduled-rule.json"))
    assert isinstance(req, ScheduledRequest) and req.scheduled_time == datetime(2026, 12, 3, 2, tzinfo=UTC)


def test_manual_event() -> None:
    assert parse_event(load_event("manual.json")) == ManualRequest(date(2026, 11, 1), date(2026, 11, 7), (ATTENDEES,))
    assert parse_event({"from": "2026-11-01", "to": "2026-11-01"}) == ManualRequest(
        date(2026, 11, 1), date(2026, 11, 1)
    )


def test_unit_event() -> None:
    req = parse_event(load_event("unit.json"))
    assert isinstance(req, UnitRequest) and req.report is ATTENDEES and req.partner_id == 4242


def test_every_sample_event_is_accepted() -> None:
    files = sorted(Path(EVENTS).glob("*.json"))
    assert len(files) >= 4
    for f in files:
        parse_event(load_event(f.name))


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ([], "must be a JSON object"),
        ({}, "the event is empty"),
        ({"hello": 1}, "unknown event shape (keys: hello)"),
        ({"scheduled_time": "2026-12-03T02:00:00Z", "extra": 1}, "unknown field(s) extra"),
        ({"scheduled_time": "yesterday"}, "scheduled_time must be an ISO 8601 instant"),
        ({"scheduled_time": "2026-12-03T02:00:00"}, "scheduled_time must be an ISO 8601 instant"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from (2026-11-30) is after to (2026-11-01)"),
        ({"from": "2026-11-01"}, "to is missing"),
        ({"from": "2026-13-01", "to": "2026-12-01"}, "from must be a date YYYY-MM-DD; got '2026-13-01'"),
        ({"from": "2026-11-01", "to": "2026-11-02", "reports": ["webinars"]}, "reports: unknown report 'webinars'"),
        ({"from": "2026-11-01", "to": "2026-11-02", "reports": "rooms"}, "reports must be a non-empty list"),
        ({"from": "2026-11-01", "to": "2026-11-02", "report": ["rooms"]}, "unknown field(s) report"),
        ({"mode": "plan"}, 'mode must be "unit"'),
        ({"mode": "unit", "report": "rooms"}, "missing field(s) partner_id, window_end, window_start"),
        (
            {"mode": "unit", "report": "rooms", "partner_id": "x", "window_start": "a", "window_end": "b"},
            "partner_id must be a positive whole number",
        ),
    ],
)
def test_bad_events_name_the_field(event: Any, expected: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event(event)
    assert expected in str(info.value)
