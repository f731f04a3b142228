from __future__ import annotations

import pytest

from kaltura_export.catalogue import (
    ATTENDEES,
    BREAKOUT_ROOMS,
    REPORTS,
    ROOMS,
    build_params,
    report_for,
    resolve_reports,
)
from kaltura_export.errors import ConfigError, FilterError


def test_the_three_reports_as_designed() -> None:
    assert [(r.name, r.id) for r in REPORTS] == [("rooms", 6000), ("attendees", 6001), ("breakout_rooms", 6002)]
    assert ROOMS.columns[:3] == ("entry_id", "entry_name", "parent_entry_id")
    assert len(ROOMS.columns) == 9 and len(ATTENDEES.columns) == 8 and len(BREAKOUT_ROOMS.columns) == 11
    assert BREAKOUT_ROOMS.filters["ENTRY_IDS"] == "parentEntryIds"
    assert ATTENDEES.filters == {
        "ENTRY_IDS": "entry_ids",
        "VIRTUAL_EVENT_IDS": "virtual_event_ids",
        "USER_IDS": "user_ids",
        "CUE_POINT_IDS": "cue_point_ids",
    }


@pytest.mark.parametrize("key", ["attendees", "ATTENDEES", "6001", 6001, " attendees "])
def test_reports_by_name_or_id(key: str | int) -> None:
    assert report_for(key) is ATTENDEES


def test_unknown_report_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown report 'webinar'.*rooms \(6000\)"):
        report_for("webinar")


def test_resolve_keeps_catalogue_order_and_deduplicates() -> None:
    assert resolve_reports(["6002", "rooms", "breakout_rooms"]) == (ROOMS, BREAKOUT_ROOMS)


def test_params_for_rooms() -> None:
    params, warnings = build_params(ROOMS, 100, 200, {"ENTRY_IDS": ("1_a", "1_b"), "USER_IDS": ("u1",)})
    assert params == "from_date=100;to_date=200;entry_ids=1_a,1_b"
    assert warnings == ["rooms (6000) does not take USER_IDS: exported without that filter"]


def test_breakout_rooms_get_both_date_spellings_and_parent_entry_ids() -> None:
    params, warnings = build_params(BREAKOUT_ROOMS, 100, 200, {"ENTRY_IDS": ("1_a",), "VIRTUAL_EVENT_IDS": ("9",)})
    assert params == "from_date=100;to_date=200;fromDate=100;toDate=200;parentEntryIds=1_a;virtual_event_ids=9"
    assert warnings == []


def test_attendees_take_every_filter() -> None:
    filters = {"ENTRY_IDS": ("e",), "VIRTUAL_EVENT_IDS": ("v",), "USER_IDS": ("u",), "CUE_POINT_IDS": ("c",)}
    params, warnings = build_params(ATTENDEES, 1, 2, filters)
    assert params == "from_date=1;to_date=2;entry_ids=e;virtual_event_ids=v;user_ids=u;cue_point_ids=c"
    assert warnings == []


@pytest.mark.parametrize("bad", [("a;b",), ("",), (" ",)])
def test_filter_values_kaltura_cannot_carry_are_rejected(bad: tuple[str, ...]) -> None:
    with pytest.raises(FilterError, match="ENTRY_IDS"):
        build_params(ROOMS, 1, 2, {"ENTRY_IDS": bad})
