"""The invocation events the exporter accepts (DESIGN.md "Events"), parsed into typed requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .catalogue import Report, report_for, resolve_reports
from .errors import ConfigError, EventError
from .windows import parse_instant


@dataclass(frozen=True)
class ScheduledRequest:
    """A scheduled run: the LOOKBACK periods that ended at or before ``scheduled_time``."""

    scheduled_time: datetime
    execution_id: str | None = None


@dataclass(frozen=True)
class ManualRequest:
    """A manual run over whole local days, both included."""

    first_day: date
    last_day: date
    reports: tuple[Report, ...] | None = None


@dataclass(frozen=True)
class UnitRequest:
    """One unit (Step Functions): no notification, returns its unit result."""

    report: Report
    partner_id: int
    window_start: datetime
    window_end: datetime


Request = ScheduledRequest | ManualRequest | UnitRequest

_SCHEDULER_KEYS = {"scheduled_time", "execution_id", "schedule_arn"}
_RULE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
_MANUAL_KEYS = {"from", "to", "reports"}
_UNIT_KEYS = {"mode", "report", "partner_id", "window_start", "window_end"}


def parse_event(event: Any) -> Request:
    """The request an event asks for; an event of any other shape raises EventError naming the field."""
    if not isinstance(event, Mapping):
        raise EventError(f"the event must be a JSON object; got {type(event).__name__}")
    keys = set(event)
    if "mode" in event:
        return _unit(event, keys)
    if "scheduled_time" in event:
        _only(keys, _SCHEDULER_KEYS, "scheduled event")
        execution_id = event.get("execution_id")
        if execution_id is not None and not isinstance(execution_id, str):
            raise EventError("execution_id must be a string")
        return ScheduledRequest(_instant(event, "scheduled_time"), execution_id or None)
    if event.get("detail-type") == "Scheduled Event":
        _only(keys, _RULE_KEYS, "scheduled rule event")
        execution_id = event.get("id")
        return ScheduledRequest(_instant(event, "time"), execution_id if isinstance(execution_id, str) else None)
    if "from" in event or "to" in event:
        _only(keys, _MANUAL_KEYS, "manual event")
        first, last = _day(event, "from"), _day(event, "to")
        if first > last:
            raise EventError(f"from ({first}) is after to ({last})")
        reports = None
        if "reports" in event:
            value = event["reports"]
            if not isinstance(value, list) or not value or not all(isinstance(v, str | int) for v in value):
                raise EventError('reports must be a non-empty list of report names or ids, e.g. ["attendees"]')
            try:
                reports = resolve_reports(value, field="reports")
            except ConfigError as exc:
                raise EventError(str(exc)) from None
        return ManualRequest(first, last, reports)
    if not keys:
        raise EventError("the event is empty; expected scheduled_time, or from and to")
    raise EventError(
        f"unknown event shape (keys: {', '.join(sorted(map(str, keys)))}); expected "
        '{"scheduled_time"}, {"from", "to"[, "reports"]} or {"mode": "unit", ...}'
    )


def _unit(event: Mapping[str, Any], keys: set[str]) -> UnitRequest:
    if event["mode"] != "unit":
        raise EventError(f'mode must be "unit"; got {event["mode"]!r}')
    _only(keys, _UNIT_KEYS, "unit event")
    missing = sorted(_UNIT_KEYS - keys)
    if missing:
        raise EventError(f"unit event: missing field(s) {', '.join(missing)}")
    try:
        report = report_for(event["report"], field="report")
    except ConfigError as exc:
        raise EventError(str(exc)) from None
    pid = event["partner_id"]
    if isinstance(pid, bool) or not isinstance(pid, int | str) or not str(pid).isdigit() or int(pid) <= 0:
        raise EventError("partner_id must be a positive whole number")
    start, end = _instant(event, "window_start"), _instant(event, "window_end")
    if end <= start:
        raise EventError("window_end must be after window_start")
    return UnitRequest(report, int(pid), start, end)


def _only(keys: set[str], allowed: set[str], what: str) -> None:
    unknown = sorted(map(str, keys - allowed))
    if unknown:
        raise EventError(f"{what}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _instant(event: Mapping[str, Any], key: str) -> datetime:
    value = event.get(key)
    if not isinstance(value, str):
        raise EventError(f"{key} must be an ISO 8601 instant such as 2026-12-03T02:00:00Z")
    try:
        return parse_instant(value)
    except ValueError:
        raise EventError(f"{key} must be an ISO 8601 instant such as 2026-12-03T02:00:00Z; got {value!r}") from None


def _day(event: Mapping[str, Any], key: str) -> date:
    value = event.get(key)
    if value is None:
        raise EventError(f"{key} is missing: a manual run needs both from and to (YYYY-MM-DD)")
    if not isinstance(value, str):
        raise EventError(f"{key} must be a date YYYY-MM-DD")
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise EventError(f"{key} must be a date YYYY-MM-DD; got {value!r}") from None
