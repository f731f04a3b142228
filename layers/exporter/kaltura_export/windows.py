"""Export windows: the periods (hour, day, ISO week, month) of a local time zone as half-open UTC intervals.

Pure logic: no AWS, no environment. Every instant belongs to exactly one window of a given period and zone;
consecutive windows touch. Window bounds are whole UTC seconds, because Kaltura takes Unix seconds.

- daily, weekly (Monday start) and monthly periods start at the first instant whose local date is on or after
  the period's first day, so a day with a DST change lasts 23 or 25 hours (23.5 or 24.5 on Lord Howe Island),
  and a day whose midnight does not exist starts at the first instant after the gap.
- an hourly window is a maximal run of instants sharing (local date, local hour, UTC offset): the repeated hour
  of an autumn change is two windows with the same ``dt``, the skipped hour of a spring change has none, and a
  30-minute shift leaves a 30-minute window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

_SECOND = timedelta(seconds=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A margin of a couple of years on both sides keeps every shift below (a week back, a month on, a day of
# search band) inside datetime's range, so callers get a ValueError instead of an OverflowError.
_EARLIEST = datetime(3, 1, 1, tzinfo=UTC)
_LATEST = datetime(9997, 1, 1, tzinfo=UTC)


class Period(StrEnum):
    """The length of one export window; weeks start on Monday."""

    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, order=True)
class Window:
    """One period: the UTC interval [start, end) and ``dt``, the local date of ``start`` (the Hive partition)."""

    start: datetime
    end: datetime
    dt: date
    period: Period

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"window {name} must be a timezone-aware datetime, got {value!r}")
            # Kaltura takes whole Unix seconds and S3 keys carry whole-second stamps: a fraction would be
            # dropped silently and two different windows could share a key.
            if value.microsecond:
                raise ValueError(f"window {name} must be a whole second, got {value.isoformat()}")
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError(f"window end {self.end.isoformat()} is not after its start {self.start.isoformat()}")
        object.__setattr__(self, "period", Period(self.period))

    @property
    def start_s(self) -> int:
        """UTC Unix seconds of ``start`` (Kaltura's ``from_date``)."""
        return (self.start - _EPOCH) // _SECOND

    @property
    def end_s(self) -> int:
        """UTC Unix seconds of ``end`` (Kaltura's ``to_date``, exclusive)."""
        return (self.end - _EPOCH) // _SECOND

    @property
    def start_stamp(self) -> str:
        """``start`` as ``20261101T040000Z``, the form used in S3 keys."""
        return _stamp(self.start)

    @property
    def end_stamp(self) -> str:
        """``end`` as ``20261102T040000Z``, the form used in S3 keys."""
        return _stamp(self.end)

    def iso_start(self) -> str:
        """``start`` as ISO 8601 UTC with ``Z``, e.g. ``2026-11-01T04:00:00Z``."""
        return _iso(self.start)

    def iso_end(self) -> str:
        """``end`` as ISO 8601 UTC with ``Z``."""
        return _iso(self.end)


def window_containing(instant: datetime, period: Period, tz: ZoneInfo) -> Window:
    """The window of ``period`` in ``tz`` that contains the aware ``instant``; ValueError if it is naive."""
    period = Period(period)
    moment = _utc_second(instant, "instant")
    if period is Period.HOURLY:
        return _hour_window(moment, tz)
    return _calendar_window(moment, period, tz)


def scheduled_windows(scheduled_time: datetime, period: Period, tz: ZoneInfo, lookback: int) -> list[Window]:
    """The ``lookback`` windows that ended at or before ``scheduled_time``, oldest first.

    Anchored on the schedule's time, never on "now", so a retry exports the same windows.
    """
    period = Period(period)
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
        raise ValueError(f"lookback must be an integer >= 1, got {lookback!r}")
    current = window_containing(scheduled_time, period, tz)
    # The window holding T has not ended yet, even when T is exactly its start; its predecessor ends at or before T.
    windows: list[Window] = []
    for _ in range(lookback):
        current = _window_before(current, tz)
        windows.append(current)
    windows.reverse()
    return windows


def manual_windows(first_day: date, last_day: date, period: Period, tz: ZoneInfo) -> list[Window]:
    """The windows covering local days ``first_day``..``last_day`` (both included), widened to whole periods.

    Widening keeps windows aligned to the period grid, so a rerun never produces overlapping windows.
    """
    period = Period(period)
    for name, day in (("first day", first_day), ("last day", last_day)):
        if isinstance(day, datetime) or not isinstance(day, date):
            raise ValueError(f"{name} must be a date (YYYY-MM-DD), got {day!r}")
    if first_day > last_day:
        raise ValueError(f"first day {first_day.isoformat()} is after last day {last_day.isoformat()}")
    _check_day(first_day)
    _check_day(last_day)
    first = window_containing(_day_start(first_day, tz), period, tz)
    last = window_containing(_day_start(last_day + _DAY, tz) - _SECOND, period, tz)
    windows = [first]
    while windows[-1].end < last.end:
        windows.append(window_containing(windows[-1].end, period, tz))
    return windows


def window_starting(start: datetime, period: Period, tz: ZoneInfo) -> Window:
    """The window of ``period`` in ``tz`` whose start is exactly ``start``; ValueError if it is not a boundary."""
    period = Period(period)
    if not isinstance(start, datetime) or start.utcoffset() is None:
        raise ValueError(f"window start must be a timezone-aware datetime, got {start!r}")
    window = window_containing(start, period, tz)
    if window.start != start:
        raise ValueError(
            f"{start.isoformat()} is not the start of a {period} window in {tz}: "
            f"the {period} window containing it is {window.iso_start()} to {window.iso_end()}"
        )
    return window


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant with ``Z`` or an explicit offset into an aware UTC datetime."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 instant as a string, got {text!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 instant: {text!r} (expected e.g. 2026-12-03T02:00:00Z)") from None
    if parsed.utcoffset() is None:
        raise ValueError(f"instant {text!r} has no UTC offset: add 'Z' or an offset such as +01:00")
    return parsed.astimezone(UTC)


def _hour_window(moment: datetime, tz: ZoneInfo) -> Window:
    local = moment.astimezone(tz)
    offset = _offset_of(local)
    hour_wall = local.replace(tzinfo=None, minute=0, second=0, microsecond=0)
    # While the offset holds, the wall hour maps to UTC by plain subtraction. tzdata never puts two offset
    # changes within days of each other, so equal offsets at both ends of this (at most one-hour) span mean no
    # change in between, and a different one means exactly one change, found by bisection.
    start = (hour_wall - offset).replace(tzinfo=UTC)
    if _offset(start, tz) != offset:
        start = _offset_change_after(start, moment, tz)
    end = (hour_wall + _HOUR - offset).replace(tzinfo=UTC)
    if _offset(end - _SECOND, tz) != offset:
        end = _offset_change_after(moment, end - _SECOND, tz)
    return _window(start, end, Period.HOURLY, tz)


def _calendar_window(moment: datetime, period: Period, tz: ZoneInfo) -> Window:
    first_day = _period_first_day(moment.astimezone(tz).date(), period)
    start = _day_start(first_day, tz)
    # Where clocks once fell back across midnight (America/Goose_Bay until 2010, 00:01 -> 23:01) the local date
    # steps back for an hour; those instants belong to the window that began at the first midnight, so step to
    # the window that really holds the instant instead of trusting its local date.
    while start > moment:
        first_day = _shift_period(first_day, period, -1)
        start = _day_start(first_day, tz)
    end = _day_start(_shift_period(first_day, period, 1), tz)
    while end <= moment:
        first_day = _shift_period(first_day, period, 1)
        start, end = end, _day_start(_shift_period(first_day, period, 1), tz)
    return _window(start, end, period, tz)


def _window_before(window: Window, tz: ZoneInfo) -> Window:
    return window_containing(window.start - _SECOND, window.period, tz)


def _window(start: datetime, end: datetime, period: Period, tz: ZoneInfo) -> Window:
    return Window(start=start, end=end, dt=start.astimezone(tz).date(), period=period)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant whose local date in ``tz`` is ``day`` or later."""
    midnight = datetime.combine(day, time())
    # fold=0 is the first occurrence of an ambiguous midnight, and a midnight inside a gap is mapped with the
    # offset before the gap; both are right when the change happens at midnight (Santiago, Beirut, Havana).
    guess = midnight.replace(tzinfo=tz).astimezone(UTC)
    if _local_date(guess, tz) >= day > _local_date(guess - _SECOND, tz):
        return guess
    # A gap that straddles midnight (Toronto 1919: 23:30 -> 00:30) leaves no wall midnight at all. Offsets stay
    # within a day of UTC, so the answer lies within a day either side of midnight read as UTC, and that band is
    # too short to hold two offset changes: the local date only grows across it.
    low = midnight.replace(tzinfo=UTC) - _DAY
    high = midnight.replace(tzinfo=UTC) + _DAY
    low_k, high_k = 0, (high - low) // _SECOND
    while high_k - low_k > 1:
        mid_k = (low_k + high_k) // 2
        if _local_date(low + mid_k * _SECOND, tz) >= day:
            high_k = mid_k
        else:
            low_k = mid_k
    return low + high_k * _SECOND


def _offset_change_after(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (low, high] whose UTC offset differs from low's; high's must differ."""
    before = _offset(low, tz)
    low_k, high_k = 0, (high - low) // _SECOND
    while high_k - low_k > 1:
        mid_k = (low_k + high_k) // 2
        if _offset(low + mid_k * _SECOND, tz) != before:
            high_k = mid_k
        else:
            low_k = mid_k
    return low + high_k * _SECOND


def _period_first_day(day: date, period: Period) -> date:
    if period is Period.WEEKLY:
        return day - timedelta(days=day.weekday())
    if period is Period.MONTHLY:
        return day.replace(day=1)
    return day


def _shift_period(first_day: date, period: Period, steps: int) -> date:
    if period is Period.WEEKLY:
        return first_day + timedelta(weeks=steps)
    if period is Period.MONTHLY:
        months = first_day.year * 12 + first_day.month - 1 + steps
        return date(months // 12, months % 12 + 1, 1)
    return first_day + timedelta(days=steps)


def _utc_second(instant: datetime, what: str) -> datetime:
    """``instant`` in UTC, truncated to its second: window bounds are whole seconds, so the window is the same."""
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {instant!r}")
    moment = instant.astimezone(UTC)
    if not _EARLIEST <= moment < _LATEST:
        raise ValueError(f"{what} {instant.isoformat()} is outside the supported years 3-9996")
    return moment.replace(microsecond=0)


def _check_day(day: date) -> None:
    if not _EARLIEST.date() <= day < _LATEST.date():
        raise ValueError(f"day {day.isoformat()} is outside the supported years 3-9996")


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta:
    return _offset_of(moment.astimezone(tz))


def _offset_of(local: datetime) -> timedelta:
    offset = local.utcoffset()
    if offset is None:  # only a naive datetime has none; every caller passes an aware one
        raise ValueError(f"{local!r} has no UTC offset")
    return offset


def _local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def _stamp(moment: datetime) -> str:
    m = moment.astimezone(UTC)
    return f"{m.year:04d}{m.month:02d}{m.day:02d}T{m.hour:02d}{m.minute:02d}{m.second:02d}Z"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
