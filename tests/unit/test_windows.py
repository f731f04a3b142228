"""Unit tests of kaltura_export.windows: periods of a local zone as half-open UTC windows.

Expected UTC bounds are written by hand; ``test_tzdata_transitions_as_assumed`` checks the DST facts they rest on
against the installed tzdata, so a tzdata change shows up there rather than as a puzzling window mismatch.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaltura_export.windows import (
    Period,
    Window,
    manual_windows,
    parse_instant,
    scheduled_windows,
    window_containing,
    window_starting,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
SANTIAGO = ZoneInfo("America/Santiago")
BEIRUT = ZoneInfo("Asia/Beirut")
ZULU = ZoneInfo("UTC")

SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

# No example database: it would be written into the working tree.
PROPERTY = settings(max_examples=400, deadline=None, database=None)
TILING = settings(max_examples=150, deadline=None, database=None)

PROPERTY_ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
    "Pacific/Chatham",
]
RANGE_START = datetime(2020, 1, 1, tzinfo=UTC)
RANGE_END = datetime(2031, 1, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def bounds(windows: list[Window]) -> list[tuple[datetime, datetime]]:
    return [(w.start, w.end) for w in windows]


def local_hours(windows: list[Window], tz: ZoneInfo) -> list[int]:
    return [w.start.astimezone(tz).hour for w in windows]


def label(instant: datetime, period: Period, tz: ZoneInfo) -> Any:
    """What the period means, written from the definition rather than from the module's algorithm."""
    local = instant.astimezone(tz)
    day = local.date()
    if period is Period.HOURLY:
        return (day, local.hour, local.utcoffset())
    if period is Period.DAILY:
        return day
    if period is Period.WEEKLY:
        return day.isocalendar()[:2]
    return (day.year, day.month)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """UTC instants where the zone's offset changes in the property range (sampled every 6 h, then bisected)."""
    tz = ZoneInfo(zone)
    found = []
    step = timedelta(hours=6)
    moment = RANGE_START - step
    while moment < RANGE_END + step:
        after = moment + step
        if moment.astimezone(tz).utcoffset() != after.astimezone(tz).utcoffset():
            low, high = moment, after
            while high - low > SECOND:
                mid = low + (high - low) // 2
                mid = mid.replace(microsecond=0)
                if mid.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
                    low = mid
                else:
                    high = mid
            found.append(high)
        moment = after
    return tuple(found)


# --- tzdata facts the hand-written expectations rely on -------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "change", "wall_before", "wall_after"),
    [
        # the last second before the change and the change itself, as local wall clock readings
        (NEW_YORK, utc(2026, 3, 8, 7), "2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00"),
        (NEW_YORK, utc(2026, 11, 1, 6), "2026-11-01T01:59:59-04:00", "2026-11-01T01:00:00-05:00"),
        (BERLIN, utc(2026, 3, 29, 1), "2026-03-29T01:59:59+01:00", "2026-03-29T03:00:00+02:00"),
        (BERLIN, utc(2026, 10, 25, 1), "2026-10-25T02:59:59+02:00", "2026-10-25T02:00:00+01:00"),
        (LORD_HOWE, utc(2026, 10, 3, 15, 30), "2026-10-04T01:59:59+10:30", "2026-10-04T02:30:00+11:00"),
        (LORD_HOWE, utc(2026, 4, 4, 15), "2026-04-05T01:59:59+11:00", "2026-04-05T01:30:00+10:30"),
        (SANTIAGO, utc(2026, 9, 6, 4), "2026-09-05T23:59:59-04:00", "2026-09-06T01:00:00-03:00"),
        (BEIRUT, utc(2026, 3, 28, 22), "2026-03-28T23:59:59+02:00", "2026-03-29T01:00:00+03:00"),
    ],
)
def test_tzdata_transitions_as_assumed(tz: ZoneInfo, change: datetime, wall_before: str, wall_after: str) -> None:
    assert (change - SECOND).astimezone(tz).isoformat() == wall_before
    assert change.astimezone(tz).isoformat() == wall_after


# --- daily across DST -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "start", "end", "hours"),
    [
        (NEW_YORK, date(2026, 3, 8), utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), 23),
        (NEW_YORK, date(2026, 11, 1), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), 25),
        (BERLIN, date(2026, 3, 29), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), 23),
        (BERLIN, date(2026, 10, 25), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), 25),
        (LORD_HOWE, date(2026, 10, 4), utc(2026, 10, 3, 13, 30), utc(2026, 10, 4, 13), 23.5),
        (LORD_HOWE, date(2026, 4, 5), utc(2026, 4, 4, 13), utc(2026, 4, 5, 13, 30), 24.5),
    ],
)
def test_daily_window_on_dst_change_days(tz: ZoneInfo, day: date, start: datetime, end: datetime, hours: float) -> None:
    expected = Window(start=start, end=end, dt=day, period=Period.DAILY)
    assert manual_windows(day, day, Period.DAILY, tz) == [expected]
    # any instant of the day, including the last second, maps to the same window
    assert window_containing(start, Period.DAILY, tz) == expected
    assert window_containing(end - SECOND, Period.DAILY, tz) == expected
    assert window_containing(end, Period.DAILY, tz).dt == day + timedelta(days=1)
    assert (end - start) == timedelta(hours=hours)
    assert expected.end_s - expected.start_s == int(hours * 3600)


# --- hourly across DST ----------------------------------------------------------------------------------------


def test_hourly_new_york_autumn_repeated_hour_is_two_windows() -> None:
    day = date(2026, 11, 1)
    windows = manual_windows(day, day, Period.HOURLY, NEW_YORK)
    assert len(windows) == 25
    assert local_hours(windows, NEW_YORK)[:5] == [0, 1, 1, 2, 3]
    first_one, second_one = windows[1], windows[2]
    assert (first_one.start, first_one.end) == (utc(2026, 11, 1, 5), utc(2026, 11, 1, 6))
    assert (second_one.start, second_one.end) == (utc(2026, 11, 1, 6), utc(2026, 11, 1, 7))
    assert first_one.dt == second_one.dt == day
    assert (first_one.start_stamp, second_one.start_stamp) == ("20261101T050000Z", "20261101T060000Z")
    assert window_containing(utc(2026, 11, 1, 5, 30), Period.HOURLY, NEW_YORK) == first_one
    assert window_containing(utc(2026, 11, 1, 6, 30), Period.HOURLY, NEW_YORK) == second_one
    assert all(w.end - w.start == HOUR for w in windows)


def test_hourly_new_york_spring_missing_hour_is_absent() -> None:
    day = date(2026, 3, 8)
    windows = manual_windows(day, day, Period.HOURLY, NEW_YORK)
    assert len(windows) == 23
    assert local_hours(windows, NEW_YORK) == [0, 1, *range(3, 24)]
    assert bounds(windows[1:3]) == [
        (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)),  # 01:00 EST
        (utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)),  # 03:00 EDT
    ]
    assert windows[0].start == utc(2026, 3, 8, 5)
    assert windows[-1].end == utc(2026, 3, 9, 4)


def test_hourly_berlin_both_changes() -> None:
    spring = manual_windows(date(2026, 3, 29), date(2026, 3, 29), Period.HOURLY, BERLIN)
    assert len(spring) == 23
    assert local_hours(spring, BERLIN)[:4] == [0, 1, 3, 4]
    assert bounds(spring[1:3]) == [
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
    ]

    autumn = manual_windows(date(2026, 10, 25), date(2026, 10, 25), Period.HOURLY, BERLIN)
    assert len(autumn) == 25
    assert local_hours(autumn, BERLIN)[:5] == [0, 1, 2, 2, 3]
    cest, cet = autumn[2], autumn[3]
    assert (cest.start, cest.end) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))
    assert (cet.start, cet.end) == (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2))
    assert cest.dt == cet.dt == date(2026, 10, 25)
    assert cest.start_stamp != cet.start_stamp


def test_hourly_lord_howe_spring_half_hour_gap() -> None:
    day = date(2026, 10, 4)
    windows = manual_windows(day, day, Period.HOURLY, LORD_HOWE)
    assert len(windows) == 24
    assert sum((w.end - w.start for w in windows), timedelta()) == timedelta(hours=23, minutes=30)
    index = [w.start for w in windows].index(utc(2026, 10, 3, 14, 30))
    assert bounds(windows[index : index + 3]) == [
        (utc(2026, 10, 3, 14, 30), utc(2026, 10, 3, 15, 30)),  # 01:00-02:00 +10:30
        (utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 16)),  # 02:30-03:00 +11, thirty minutes
        (utc(2026, 10, 3, 16), utc(2026, 10, 3, 17)),  # 03:00-04:00 +11
    ]
    assert [w.start.astimezone(LORD_HOWE).strftime("%H:%M") for w in windows[index : index + 3]] == [
        "01:00",
        "02:30",
        "03:00",
    ]
    assert {w.dt for w in windows} == {day}


def test_hourly_lord_howe_autumn_half_hour_repeat() -> None:
    day = date(2026, 4, 5)
    windows = manual_windows(day, day, Period.HOURLY, LORD_HOWE)
    assert len(windows) == 25
    assert sum((w.end - w.start for w in windows), timedelta()) == timedelta(hours=24, minutes=30)
    index = [w.start for w in windows].index(utc(2026, 4, 4, 14))
    assert bounds(windows[index : index + 3]) == [
        (utc(2026, 4, 4, 14), utc(2026, 4, 4, 15)),  # 01:00-02:00 +11
        (utc(2026, 4, 4, 15), utc(2026, 4, 4, 15, 30)),  # 01:30-02:00 +10:30, thirty minutes
        (utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16, 30)),  # 02:00-03:00 +10:30
    ]
    assert window_containing(utc(2026, 4, 4, 15, 10), Period.HOURLY, LORD_HOWE) == windows[index + 1]


def test_hourly_chatham_quarter_hour_offset_splits_two_hours() -> None:
    # Chatham (+12:45) springs forward at 02:45 to 03:45: the 02:00 hour keeps 45 minutes, the 03:00 hour 15.
    chatham = ZoneInfo("Pacific/Chatham")
    assert utc(2026, 9, 26, 14).astimezone(chatham).isoformat() == "2026-09-27T03:45:00+13:45"
    assert (utc(2026, 9, 26, 14) - SECOND).astimezone(chatham).isoformat() == "2026-09-27T02:44:59+12:45"
    # fractional instants, so the bisection towards the change must not carry the fraction into the bounds
    found = [
        window_containing(utc(2026, 9, 26, 13, 30, 0, 250_000), Period.HOURLY, chatham),
        window_containing(utc(2026, 9, 26, 14, 5, 0, 999_999), Period.HOURLY, chatham),
        window_containing(utc(2026, 9, 26, 14, 15), Period.HOURLY, chatham),
    ]
    assert bounds(found) == [
        (utc(2026, 9, 26, 13, 15), utc(2026, 9, 26, 14)),
        (utc(2026, 9, 26, 14), utc(2026, 9, 26, 14, 15)),
        (utc(2026, 9, 26, 14, 15), utc(2026, 9, 26, 15, 15)),
    ]
    assert [w.start_stamp for w in found] == ["20260926T131500Z", "20260926T140000Z", "20260926T141500Z"]
    assert [w.end_stamp for w in found] == ["20260926T140000Z", "20260926T141500Z", "20260926T151500Z"]


def test_hourly_year_counts_follow_the_dst_rule() -> None:
    first, last = date(2026, 1, 1), date(2026, 12, 31)
    # New York loses an hour in March and repeats one in November: as many windows as a plain year.
    new_york = manual_windows(first, last, Period.HOURLY, NEW_YORK)
    assert len(new_york) == 365 * 24
    # Lord Howe's spring gap only shortens its 02:00 hour (it still exists from 02:30), while the autumn
    # repeat of 01:30-02:00 is a window of its own.
    lord_howe = manual_windows(first, last, Period.HOURLY, LORD_HOWE)
    assert len(lord_howe) == 365 * 24 + 1
    for windows in (new_york, lord_howe):
        assert all(a.end == b.start for a, b in itertools.pairwise(windows))
        assert windows[-1].end - windows[0].start == timedelta(days=365)


# --- month end, year end, weeks -------------------------------------------------------------------------------


def test_monthly_december_ends_on_january_first_in_the_zone() -> None:
    window = window_containing(utc(2026, 12, 15, 12), Period.MONTHLY, NEW_YORK)
    assert window == Window(utc(2026, 12, 1, 5), utc(2027, 1, 1, 5), date(2026, 12, 1), Period.MONTHLY)
    # 2027-01-01T04:59:59Z is still New Year's Eve in New York
    assert window_containing(utc(2027, 1, 1, 4, 59, 59), Period.MONTHLY, NEW_YORK) == window
    assert window_containing(utc(2027, 1, 1, 5), Period.MONTHLY, NEW_YORK).dt == date(2027, 1, 1)


def test_daily_december_31_ends_on_january_first() -> None:
    window = manual_windows(date(2026, 12, 31), date(2026, 12, 31), Period.DAILY, BERLIN)
    assert window == [Window(utc(2026, 12, 30, 23), utc(2026, 12, 31, 23), date(2026, 12, 31), Period.DAILY)]
    assert window_containing(utc(2026, 12, 31, 23, 30), Period.DAILY, BERLIN).dt == date(2027, 1, 1)


def test_scheduled_run_on_new_year_covers_the_last_three_days_of_december() -> None:
    run_at = datetime(2027, 1, 1, 2, tzinfo=NEW_YORK)  # 07:00Z
    windows = scheduled_windows(run_at, Period.DAILY, NEW_YORK, 3)
    assert [w.dt for w in windows] == [date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)]
    assert bounds(windows) == [
        (utc(2026, 12, 29, 5), utc(2026, 12, 30, 5)),
        (utc(2026, 12, 30, 5), utc(2026, 12, 31, 5)),
        (utc(2026, 12, 31, 5), utc(2027, 1, 1, 5)),
    ]


def test_scheduled_monthly_run_on_new_year_exports_december() -> None:
    windows = scheduled_windows(utc(2027, 1, 1, 2), Period.MONTHLY, ZULU, 2)
    assert bounds(windows) == [(utc(2026, 11, 1), utc(2026, 12, 1)), (utc(2026, 12, 1), utc(2027, 1, 1))]
    assert [w.dt for w in windows] == [date(2026, 11, 1), date(2026, 12, 1)]


def test_weekly_range_starting_on_wednesday_starts_on_monday() -> None:
    wednesday = date(2026, 11, 4)
    assert wednesday.isoweekday() == 3
    windows = manual_windows(wednesday, wednesday, Period.WEEKLY, ZULU)
    assert windows == [Window(utc(2026, 11, 2), utc(2026, 11, 9), date(2026, 11, 2), Period.WEEKLY)]


def test_weekly_sunday_belongs_to_the_week_of_the_previous_monday() -> None:
    window = window_containing(datetime(2026, 11, 8, 23, 59, 59, tzinfo=BERLIN), Period.WEEKLY, BERLIN)
    assert window.dt == date(2026, 11, 2)
    assert window.end == datetime(2026, 11, 9, tzinfo=BERLIN)


def test_weekly_range_across_a_year_boundary_uses_iso_weeks() -> None:
    windows = manual_windows(date(2026, 12, 30), date(2027, 1, 6), Period.WEEKLY, BERLIN)
    assert [w.dt for w in windows] == [date(2026, 12, 28), date(2027, 1, 4)]
    assert [w.dt.isocalendar()[:2] for w in windows] == [(2026, 53), (2027, 1)]
    assert bounds(windows) == [
        (utc(2026, 12, 27, 23), utc(2027, 1, 3, 23)),
        (utc(2027, 1, 3, 23), utc(2027, 1, 10, 23)),
    ]


def test_weekly_window_over_a_dst_change_is_one_hour_short() -> None:
    window = window_containing(utc(2026, 3, 27, 12), Period.WEEKLY, BERLIN)
    assert (window.start, window.end) == (utc(2026, 3, 22, 23), utc(2026, 3, 29, 22))
    assert window.end - window.start == timedelta(days=7) - HOUR


def test_monthly_range_from_the_fifteenth_starts_on_the_first() -> None:
    windows = manual_windows(date(2026, 11, 15), date(2026, 12, 10), Period.MONTHLY, NEW_YORK)
    assert bounds(windows) == [
        (utc(2026, 11, 1, 4), utc(2026, 12, 1, 5)),  # November 1st is still EDT at midnight
        (utc(2026, 12, 1, 5), utc(2027, 1, 1, 5)),
    ]
    assert [w.dt for w in windows] == [date(2026, 11, 1), date(2026, 12, 1)]


def test_manual_daily_range_lists_every_day_oldest_first() -> None:
    windows = manual_windows(date(2026, 11, 1), date(2026, 11, 30), Period.DAILY, ZULU)
    assert [w.dt for w in windows] == [date(2026, 11, 1) + timedelta(days=n) for n in range(30)]
    assert windows[0].iso_start() == "2026-11-01T00:00:00Z"
    assert windows[-1].iso_end() == "2026-12-01T00:00:00Z"


# --- scheduled runs -------------------------------------------------------------------------------------------


def test_scheduled_daily_lookback_three_from_the_design_example() -> None:
    windows = scheduled_windows(parse_instant("2026-12-03T02:00:00Z"), Period.DAILY, ZULU, 3)
    assert bounds(windows) == [
        (utc(2026, 11, 30), utc(2026, 12, 1)),
        (utc(2026, 12, 1), utc(2026, 12, 2)),
        (utc(2026, 12, 2), utc(2026, 12, 3)),
    ]


@pytest.mark.parametrize(
    ("run_at", "last_day"),
    [
        (utc(2026, 12, 3), date(2026, 12, 2)),  # exactly a boundary: the window ending at T is included
        (utc(2026, 12, 3) - SECOND, date(2026, 12, 1)),  # one second earlier, 12-02 has not ended
        (utc(2026, 12, 3, 0, 0, 0, 500_000), date(2026, 12, 2)),
        (utc(2026, 12, 3, 23, 59, 59), date(2026, 12, 2)),  # never the window still running
    ],
)
def test_scheduled_windows_end_at_or_before_the_scheduled_time(run_at: datetime, last_day: date) -> None:
    windows = scheduled_windows(run_at, Period.DAILY, ZULU, 1)
    assert [w.dt for w in windows] == [last_day]
    assert windows[0].end <= run_at


def test_scheduled_hourly_lookback_across_new_york_autumn_change() -> None:
    windows = scheduled_windows(utc(2026, 11, 1, 8), Period.HOURLY, NEW_YORK, 4)
    assert bounds(windows) == [(utc(2026, 11, 1, h), utc(2026, 11, 1, h + 1)) for h in range(4, 8)]
    assert [w.start.astimezone(NEW_YORK).strftime("%H%z") for w in windows] == [
        "00-0400",
        "01-0400",
        "01-0500",
        "02-0500",
    ]
    assert len({w.start_stamp for w in windows}) == 4
    assert {w.dt for w in windows} == {date(2026, 11, 1)}


def test_scheduled_hourly_lookback_across_new_york_spring_change() -> None:
    windows = scheduled_windows(utc(2026, 3, 8, 8), Period.HOURLY, NEW_YORK, 3)
    assert bounds(windows) == [(utc(2026, 3, 8, h), utc(2026, 3, 8, h + 1)) for h in range(5, 8)]
    assert local_hours(windows, NEW_YORK) == [0, 1, 3]


def test_scheduled_windows_is_a_pure_function_of_its_inputs() -> None:
    run_at = utc(2026, 12, 3, 2)
    assert scheduled_windows(run_at, Period.WEEKLY, BERLIN, 2) == scheduled_windows(run_at, Period.WEEKLY, BERLIN, 2)


@pytest.mark.parametrize("lookback", [0, -1, True, 1.5, "3"])
def test_scheduled_windows_rejects_a_bad_lookback(lookback: Any) -> None:
    with pytest.raises(ValueError, match="lookback"):
        scheduled_windows(utc(2026, 12, 3), Period.DAILY, ZULU, lookback)


def test_scheduled_windows_rejects_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        scheduled_windows(datetime(2026, 12, 3, 2), Period.DAILY, ZULU, 3)


# --- zones whose midnight or hour start does not exist --------------------------------------------------------


def test_santiago_day_without_midnight_starts_at_the_first_existing_instant() -> None:
    day = date(2026, 9, 6)
    [window] = manual_windows(day, day, Period.DAILY, SANTIAGO)
    # 2026-09-05T23:59:59-04:00 is followed by 2026-09-06T01:00:00-03:00
    assert (window.start, window.end) == (utc(2026, 9, 6, 4), utc(2026, 9, 7, 3))
    assert window.start.astimezone(SANTIAGO).isoformat() == "2026-09-06T01:00:00-03:00"
    assert window.dt == day
    assert window.end - window.start == timedelta(hours=23)
    assert window_containing(utc(2026, 9, 6, 4) - SECOND, Period.DAILY, SANTIAGO).dt == date(2026, 9, 5)
    assert window_starting(utc(2026, 9, 6, 4), Period.DAILY, SANTIAGO) == window
    hourly = manual_windows(day, day, Period.HOURLY, SANTIAGO)
    assert hourly[0].start == window.start
    assert local_hours(hourly, SANTIAGO)[:2] == [1, 2]


def test_santiago_week_and_month_starting_on_a_missing_midnight() -> None:
    # Sunday 2026-09-06 lacks midnight; the ISO week that holds it started on Monday 08-31 and is one hour short.
    week = window_containing(utc(2026, 9, 6, 12), Period.WEEKLY, SANTIAGO)
    assert (week.start, week.end) == (utc(2026, 8, 31, 4), utc(2026, 9, 7, 3))


def test_beirut_day_without_midnight_starts_at_the_first_existing_instant() -> None:
    day = date(2026, 3, 29)
    [window] = manual_windows(day, day, Period.DAILY, BEIRUT)
    assert (window.start, window.end) == (utc(2026, 3, 28, 22), utc(2026, 3, 29, 21))
    assert window.start.astimezone(BEIRUT).isoformat() == "2026-03-29T01:00:00+03:00"
    with pytest.raises(ValueError, match="not the start"):
        window_starting(utc(2026, 3, 28, 21), Period.DAILY, BEIRUT)  # 23:00 local on the 28th


def test_gap_straddling_midnight_starts_the_day_after_the_gap() -> None:
    # Toronto 1919-03-30: clocks went from 23:30 EST to 00:30 EDT, so no wall clock read midnight.
    toronto = ZoneInfo("America/Toronto")
    assert (utc(1919, 3, 31, 4, 30) - SECOND).astimezone(toronto).isoformat() == "1919-03-30T23:29:59-05:00"
    assert utc(1919, 3, 31, 4, 30).astimezone(toronto).isoformat() == "1919-03-31T00:30:00-04:00"
    days = manual_windows(date(1919, 3, 30), date(1919, 3, 31), Period.DAILY, toronto)
    assert bounds(days) == [
        (utc(1919, 3, 30, 5), utc(1919, 3, 31, 4, 30)),
        (utc(1919, 3, 31, 4, 30), utc(1919, 4, 1, 4)),
    ]
    hours = (
        window_containing(utc(1919, 3, 31, 4, 15), Period.HOURLY, toronto),
        window_containing(utc(1919, 3, 31, 4, 45), Period.HOURLY, toronto),
    )
    assert [(w.start, w.end, w.dt) for w in hours] == [
        (utc(1919, 3, 31, 4), utc(1919, 3, 31, 4, 30), date(1919, 3, 30)),  # 23:00-23:30 EST
        (utc(1919, 3, 31, 4, 30), utc(1919, 3, 31, 5), date(1919, 3, 31)),  # 00:30-01:00 EDT
    ]


def test_skipped_calendar_day_has_no_window() -> None:
    # Samoa skipped 2011-12-30 when it crossed the date line.
    apia = ZoneInfo("Pacific/Apia")
    days = manual_windows(date(2011, 12, 29), date(2011, 12, 31), Period.DAILY, apia)
    assert [w.dt for w in days] == [date(2011, 12, 29), date(2011, 12, 31)]
    assert bounds(days) == [
        (utc(2011, 12, 29, 10), utc(2011, 12, 30, 10)),
        (utc(2011, 12, 30, 10), utc(2011, 12, 31, 10)),
    ]
    assert manual_windows(date(2011, 12, 30), date(2011, 12, 30), Period.DAILY, apia) == days[1:]


def test_fall_back_across_midnight_keeps_the_day_starting_at_its_first_midnight() -> None:
    # Goose Bay fell back at 00:01 to 23:01 until 2010: local dates went 11-07 (one minute), 11-06, 11-07.
    goose_bay = ZoneInfo("America/Goose_Bay")
    assert utc(2010, 11, 7, 3, 1).astimezone(goose_bay).isoformat() == "2010-11-06T23:01:00-04:00"
    [day] = manual_windows(date(2010, 11, 7), date(2010, 11, 7), Period.DAILY, goose_bay)
    assert (day.start, day.end) == (utc(2010, 11, 7, 3), utc(2010, 11, 8, 4))
    # the repeated late evening of the 6th falls inside the window of the 7th, which began at the first midnight
    assert window_containing(utc(2010, 11, 7, 3, 30), Period.DAILY, goose_bay) == day
    # hourly windows follow their own rule: the repeated 23:00 hour is a window of its own, dated the 6th
    repeated = window_containing(utc(2010, 11, 7, 3, 30), Period.HOURLY, goose_bay)
    assert (repeated.start, repeated.end, repeated.dt) == (
        utc(2010, 11, 7, 3, 1),
        utc(2010, 11, 7, 4),
        date(2010, 11, 6),
    )


# --- window_starting ------------------------------------------------------------------------------------------


def test_window_starting_accepts_a_boundary_in_any_offset() -> None:
    expected = window_containing(utc(2026, 11, 1, 12), Period.DAILY, NEW_YORK)
    assert window_starting(datetime(2026, 11, 1, tzinfo=NEW_YORK), Period.DAILY, NEW_YORK) == expected
    assert window_starting(parse_instant("2026-11-01T04:00:00Z"), Period.DAILY, NEW_YORK) == expected


def test_window_starting_names_the_repeated_hour_by_its_utc_instant() -> None:
    first = window_starting(utc(2026, 11, 1, 5), Period.HOURLY, NEW_YORK)
    second = window_starting(utc(2026, 11, 1, 6), Period.HOURLY, NEW_YORK)
    assert first.end == second.start
    assert first.dt == second.dt


@pytest.mark.parametrize(
    ("start", "period"),
    [
        (utc(2026, 11, 1, 5), Period.DAILY),  # 01:00 local, not midnight
        (utc(2026, 11, 1, 4, 30), Period.HOURLY),
        (utc(2026, 11, 1, 4, 0, 1), Period.HOURLY),
        (utc(2026, 11, 1, 4, 0, 0, 1), Period.HOURLY),  # a microsecond off
        (utc(2026, 11, 3, 5), Period.WEEKLY),  # a Tuesday
        (utc(2026, 11, 2, 5), Period.MONTHLY),
    ],
)
def test_window_starting_rejects_an_instant_that_is_not_a_boundary(start: datetime, period: Period) -> None:
    with pytest.raises(ValueError, match=r"is not the start of a .* window in America/New_York"):
        window_starting(start, period, NEW_YORK)


def test_window_starting_rejects_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_starting(datetime(2026, 11, 1), Period.DAILY, NEW_YORK)


def test_window_containing_rejects_naive_and_out_of_range_instants() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_containing(datetime(2026, 11, 1), Period.DAILY, ZULU)
    with pytest.raises(ValueError, match="supported years"):
        window_containing(datetime(9999, 12, 31, tzinfo=UTC), Period.MONTHLY, ZULU)


def test_period_accepts_its_string_values_only() -> None:
    assert [p.value for p in Period] == ["hourly", "daily", "weekly", "monthly"]
    assert window_containing(utc(2026, 1, 1), "daily", ZULU).period is Period.DAILY  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fortnightly"):
        window_containing(utc(2026, 1, 1), "fortnightly", ZULU)  # type: ignore[arg-type]


# --- manual_windows validation --------------------------------------------------------------------------------


def test_manual_windows_rejects_a_reversed_range() -> None:
    with pytest.raises(ValueError, match="2026-11-30 is after last day 2026-11-01"):
        manual_windows(date(2026, 11, 30), date(2026, 11, 1), Period.DAILY, ZULU)


def test_manual_windows_rejects_datetimes_for_days() -> None:
    with pytest.raises(ValueError, match="must be a date"):
        manual_windows(datetime(2026, 11, 1, 12, tzinfo=UTC), date(2026, 11, 2), Period.DAILY, ZULU)


# --- Window ---------------------------------------------------------------------------------------------------


def test_window_renders_seconds_stamps_and_iso() -> None:
    window = window_containing(utc(2026, 11, 1, 12), Period.DAILY, ZoneInfo("America/Puerto_Rico"))
    assert window.start_s == 1793505600
    assert window.end_s == 1793505600 + 86400
    assert window.start_stamp == "20261101T040000Z"
    assert window.end_stamp == "20261102T040000Z"
    assert window.iso_start() == "2026-11-01T04:00:00Z"
    assert window.iso_end() == "2026-11-02T04:00:00Z"
    assert window.start.tzinfo is UTC
    assert window.dt == date(2026, 11, 1)
    assert int(window.start.timestamp()) == window.start_s


def test_window_stamps_keep_minutes_and_seconds() -> None:
    kolkata = window_containing(utc(2026, 12, 1, 12), Period.DAILY, ZoneInfo("Asia/Kolkata"))
    assert (kolkata.start_stamp, kolkata.end_stamp) == ("20261130T183000Z", "20261201T183000Z")
    assert (kolkata.iso_start(), kolkata.iso_end()) == ("2026-11-30T18:30:00Z", "2026-12-01T18:30:00Z")
    lmt = window_containing(utc(1890, 6, 1, 12), Period.DAILY, ZoneInfo("Europe/Amsterdam"))
    # Amsterdam's local mean time was +00:19:32, so the day began at 23:40:28 UTC
    assert (lmt.start_stamp, lmt.iso_start()) == ("18900531T234028Z", "1890-05-31T23:40:28Z")


def test_window_is_frozen_ordered_and_normalised_to_utc() -> None:
    a = Window(datetime(2026, 11, 1, tzinfo=NEW_YORK), utc(2026, 11, 2, 5), date(2026, 11, 1), Period.DAILY)
    b = window_containing(utc(2026, 11, 2, 12), Period.DAILY, NEW_YORK)
    assert a.start.tzinfo is UTC
    assert a.start == utc(2026, 11, 1, 4)
    assert sorted([b, a]) == [a, b]
    assert len({a, dataclasses.replace(a)}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.start = utc(2026, 1, 1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2026, 11, 1), utc(2026, 11, 2), "timezone-aware"),
        (utc(2026, 11, 2), utc(2026, 11, 1), "not after its start"),
        (utc(2026, 11, 1), utc(2026, 11, 1), "not after its start"),
        (utc(2026, 11, 1, 0, 0, 0, 5), utc(2026, 11, 2), "whole second"),
    ],
)
def test_window_rejects_inconsistent_bounds(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window(start, end, date(2026, 11, 1), Period.DAILY)


# --- parse_instant --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T02:00:00Z", utc(2026, 12, 3, 2)),
        ("2026-12-03T02:00:00.123Z", datetime(2026, 12, 3, 2, 0, 0, 123000, tzinfo=UTC)),
        ("2026-12-03T03:00:00+01:00", utc(2026, 12, 3, 2)),
        ("2026-12-02T21:00:00-05:00", utc(2026, 12, 3, 2)),
        ("2026-12-03T07:30:00+05:30", utc(2026, 12, 3, 2)),
        ("2026-12-03T02:00:00+00:00", utc(2026, 12, 3, 2)),
    ],
)
def test_parse_instant_accepts_z_fractions_and_offsets(text: str, expected: datetime) -> None:
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["2026-12-03T02:00:00", "2026-12-03", "yesterday", "", "2026-13-03T02:00:00Z"])
def test_parse_instant_rejects_naive_and_garbage_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_instant(text)
    assert repr(text) in str(caught.value)


def test_parse_instant_rejects_a_non_string() -> None:
    with pytest.raises(ValueError, match="1764727200"):
        parse_instant(1764727200)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------------------

zones = st.sampled_from(PROPERTY_ZONES)
periods = st.sampled_from(list(Period))


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """Uniform over 2020-2030, or within two days of one of the zone's offset changes."""
    span_us = (RANGE_END - RANGE_START) // timedelta(microseconds=1)
    changes = transitions(zone)
    near_a_change = draw(st.booleans())
    if changes and near_a_change:
        change = draw(st.sampled_from(changes))
        # whole seconds are likelier to land on a boundary; microseconds catch fractions leaking into bounds
        offset_us = draw(st.integers(-2 * 86400, 2 * 86400)) * 1_000_000 + draw(st.sampled_from([0, 1, 999_999]))
        return change + timedelta(microseconds=offset_us)
    return RANGE_START + timedelta(microseconds=draw(st.integers(0, span_us - 1)))


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[ZoneInfo, datetime]:
    zone = draw(zones)
    return ZoneInfo(zone), draw(instants(zone))


def test_property_zones_have_transitions_to_aim_at() -> None:
    # guards the strategy: without transitions the DST-biased half of the examples would be uniform too
    assert len(transitions("America/New_York")) == 22
    assert len(transitions("Australia/Lord_Howe")) == 22
    assert transitions("UTC") == transitions("Asia/Kolkata") == ()


@PROPERTY
@given(zone_and_instant(), periods)
def test_window_containing_properties(zone_instant: tuple[ZoneInfo, datetime], period: Period) -> None:
    tz, instant = zone_instant
    window = window_containing(instant, period, tz)
    assert window.period is period
    assert window.start <= instant < window.end
    assert window.start.tzinfo is UTC and window.end.tzinfo is UTC
    assert window.start.microsecond == 0 and window.end.microsecond == 0
    assert window.dt == window.start.astimezone(tz).date()
    # the window is made of instants carrying the instant's label, and is maximal
    assert label(window.start, period, tz) == label(instant, period, tz)
    assert label(window.end - SECOND, period, tz) == label(instant, period, tz)
    assert label(window.start - SECOND, period, tz) != label(window.start, period, tz)
    assert label(window.end, period, tz) != label(window.end - SECOND, period, tz)
    # neighbours touch, and a window is found again from its start
    after = window_containing(window.end, period, tz)
    before = window_containing(window.start - SECOND, period, tz)
    assert after.start == window.end
    assert before.end == window.start
    assert window_starting(window.start, period, tz) == window
    assert window_containing(window.end - SECOND, period, tz) == window


@PROPERTY
@given(zone_and_instant(), periods)
def test_window_lengths_are_those_of_the_period(zone_instant: tuple[ZoneInfo, datetime], period: Period) -> None:
    tz, instant = zone_instant
    length = window_containing(instant, period, tz).end - window_containing(instant, period, tz).start
    # no zone in the property set shifts by more than an hour
    limits = {
        Period.HOURLY: (timedelta(minutes=15), HOUR),
        Period.DAILY: (timedelta(hours=23), timedelta(hours=25)),
        Period.WEEKLY: (timedelta(days=7, hours=-1), timedelta(days=7, hours=1)),
        Period.MONTHLY: (timedelta(days=28, hours=-1), timedelta(days=31, hours=1)),
    }
    low, high = limits[period]
    assert low <= length <= high


@PROPERTY
@given(zone_and_instant(), periods, st.integers(1, 5))
def test_scheduled_windows_properties(zone_instant: tuple[ZoneInfo, datetime], period: Period, lookback: int) -> None:
    tz, run_at = zone_instant
    windows = scheduled_windows(run_at, period, tz, lookback)
    assert len(windows) == lookback
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert windows[-1].end <= run_at
    # the window after the last one has not ended at T: it is still running or starts exactly at T
    assert window_containing(windows[-1].end, period, tz).end > run_at


@TILING
@given(zones, periods, st.dates(date(2020, 1, 1), date(2030, 12, 1)), st.integers(0, 45))
def test_manual_windows_tile_the_widened_range(zone: str, period: Period, first_day: date, days: int) -> None:
    tz = ZoneInfo(zone)
    if period is Period.HOURLY:
        days = days % 4
    last_day = first_day + timedelta(days=days)
    windows = manual_windows(first_day, last_day, period, tz)
    assert windows == sorted(windows)
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(window_containing(w.start, period, tz) == w for w in windows)

    def local_day(instant: datetime) -> date:
        return instant.astimezone(tz).date()

    # the first window holds the first day's beginning, and the window before it holds none of the range
    assert local_day(windows[0].start) <= first_day <= local_day(windows[0].end - SECOND)
    assert local_day(windows[0].start - SECOND) < first_day
    # the last window holds the last day's end, and the window after it holds none of the range
    assert local_day(windows[-1].start) <= last_day <= local_day(windows[-1].end - SECOND)
    assert local_day(windows[-1].end) > last_day
    if period is Period.DAILY:
        assert [w.dt for w in windows] == [first_day + timedelta(days=n) for n in range(days + 1)]
    if period is Period.WEEKLY:
        assert {w.dt.isoweekday() for w in windows} == {1}
    if period is Period.MONTHLY:
        assert {w.dt.day for w in windows} == {1}
