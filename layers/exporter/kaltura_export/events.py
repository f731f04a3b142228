"""The invocation events the exporter accepts (DESIGN.md "Events"), parsed into typed requests."""

from __future__ import annotations

import re
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


@dataclass(frozen=True)
class PlanRequest:
    """Step Functions' first step: write the units of a manual request to S3 for the Distributed Map."""

    manual: ManualRequest
    plan_id: str
    #: the Map concurrency asked for (BackfillConcurrency); the plan lowers it to what the load bound allows
    max_concurrency: int
    #: the function's reserved concurrency (0 = unset): the Map leaves one execution for the scheduled run
    reserved_concurrency: int = 0


@dataclass(frozen=True)
class SummaryRequest:
    """Step Functions' last step: read the Map's results, write the run summary and notify once."""

    plan_id: str
    #: the Map's output (ResultWriterDetails) or, when the Map failed, the error its Catch caught
    map_output: Mapping[str, Any]


Request = ScheduledRequest | ManualRequest | UnitRequest | PlanRequest | SummaryRequest

_SCHEDULER_KEYS = {"scheduled_time", "execution_id", "schedule_arn"}
_RULE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
_MANUAL_KEYS = {"from", "to", "reports"}
_UNIT_KEYS = {"mode", "report", "partner_id", "window_start", "window_end"}
_PLAN_KEYS = {"mode", "request", "plan_id", "max_concurrency", "reserved_concurrency"}
_SUMMARY_KEYS = {"mode", "plan_id", "map"}
_MODES = (
    'mode must be "unit" (with report, partner_id, window_start, window_end), "plan" (with request and plan_id) '
    'or "summary" (with plan_id and map)'
)
_PLAN_ID = re.compile(r"^[A-Za-z0-9_\-]{1,80}$")


def parse_event(event: Any) -> Request:
    """The request an event asks for; an event of any other shape raises EventError naming the field."""
    if not isinstance(event, Mapping):
        raise EventError(f"the event must be a JSON object; got {type(event).__name__}")
    keys = set(event)
    if "mode" in event:
        if event["mode"] == "plan":
            return _plan(event, keys)
        if event["mode"] == "summary":
            return _summary(event, keys)
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
        return _manual(event, keys)
    if not keys:
        raise EventError("the event is empty; expected scheduled_time, or from and to")
    raise EventError(
        f"unknown event shape (keys: {', '.join(sorted(map(str, keys)))}); expected "
        '{"scheduled_time"}, {"from", "to"[, "reports"]} or {"mode": "unit" | "plan" | "summary", ...}'
    )


def _manual(event: Mapping[str, Any], keys: set[str]) -> ManualRequest:
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


def _plan(event: Mapping[str, Any], keys: set[str]) -> PlanRequest:
    _only(keys, _PLAN_KEYS, "plan event")
    missing = sorted({"request", "plan_id", "max_concurrency"} - keys)
    if missing:
        raise EventError(f"plan event: missing field(s) {', '.join(missing)}; {_MODES}")
    request = event["request"]
    if not isinstance(request, Mapping) or not ({"from", "to"} & set(request)):
        raise EventError('plan event: request must be the backfill\'s input {"from", "to"[, "reports"]}')
    try:
        manual = _manual(request, set(request))
    except EventError as exc:
        raise EventError(f"plan event: request: {exc.message}") from None
    plan_id = event["plan_id"]
    if not isinstance(plan_id, str) or not _PLAN_ID.match(plan_id):
        raise EventError("plan event: plan_id must be 1-80 letters, digits, '-' or '_' (the execution's name)")
    return PlanRequest(
        manual,
        plan_id,
        _count(event, "max_concurrency", 1, 10_000),
        _count(event, "reserved_concurrency", 0, 10_000) if "reserved_concurrency" in event else 0,
    )


def _summary(event: Mapping[str, Any], keys: set[str]) -> SummaryRequest:
    _only(keys, _SUMMARY_KEYS, "summary event")
    missing = sorted(_SUMMARY_KEYS - keys)
    if missing:
        raise EventError(f"summary event: missing field(s) {', '.join(missing)}; {_MODES}")
    plan_id = event["plan_id"]
    if not isinstance(plan_id, str) or not _PLAN_ID.match(plan_id):
        raise EventError("summary event: plan_id must be 1-80 letters, digits, '-' or '_' (the execution's name)")
    output = event["map"]
    if not isinstance(output, Mapping):
        raise EventError("summary event: map must be the Map state's output or the error its Catch caught")
    return SummaryRequest(plan_id, output)


def _count(event: Mapping[str, Any], key: str, low: int, high: int) -> int:
    # Step Functions passes a template parameter substituted into the definition as a string
    value = event[key]
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit() or not low <= int(text) <= high:
        raise EventError(f"{key} must be a whole number between {low} and {high}; got {value!r}")
    return int(text)


def _unit(event: Mapping[str, Any], keys: set[str]) -> UnitRequest:
    if event["mode"] != "unit":
        raise EventError(f"{_MODES}; got {event['mode']!r}")
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
