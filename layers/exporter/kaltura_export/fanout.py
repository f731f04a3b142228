"""The Step Functions backfill's two ends: the plan (units to S3 for the Distributed Map) and the summary.

plan: a backfill's request → ``<prefix>/_backfill/<plan id>/units.json`` (the Map's ItemReader reads it; each item
is a unit event run by the same function) and ``plan.json`` (what the summary needs). The Map's concurrency is
lowered here to what the load bound allows (README "Load on Kaltura").
summarise: the Map's ResultWriter files (``results/<map run>/manifest.json`` and the files it names) → one
run summary in ``_runs/`` and one notification, as a Lambda run ends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from aws_lambda_powertools import Logger

from . import ledger
from .errors import EventError
from .events import PlanRequest, SummaryRequest
from .layout import s3_uri
from .run import Services, _add_params, _finish, _open_run, new_run_id
from .settings import Settings
from .summary import RunSummary, UnitError, UnitResult, iso
from .windows import manual_windows, parse_instant

logger = Logger(child=True)


def plan_prefix(prefix: str, plan_id: str) -> str:
    """Where one backfill's plan and the Map's results live (under the prefix the function may write)."""
    return f"{prefix}/_backfill/{plan_id}/"


def map_concurrency(requested: int, settings: Settings, reserved: int) -> int:
    """The Map's MaxConcurrency: what was asked, at most MAX_CONCURRENCY (a backfill never loads Kaltura more than
    a scheduled run does), and with reserved concurrency, one execution fewer than it (the schedule keeps one)."""
    limit = min(requested, settings.max_concurrency)
    if reserved:
        limit = min(limit, reserved - 1)
    if limit < 1:
        raise EventError(
            f"ReservedConcurrency {reserved} leaves no execution for a backfill beside the scheduled run: "
            "raise ReservedConcurrency to 2 or more, or backfill with the kaltura-export command line"
        )
    return limit


def plan(request: PlanRequest, settings: Settings, services: Services) -> dict[str, Any]:
    """Write the units of ``request`` for the Map and return where they are and how many may run at once."""
    limit = map_concurrency(request.max_concurrency, settings, request.reserved_concurrency)
    manual = request.manual
    reports = manual.reports or settings.reports
    windows = manual_windows(manual.first_day, manual.last_day, settings.period, settings.tz)
    started = services.clock()
    summary = RunSummary(run_id=new_run_id(started), trigger="manual", started_at=started)
    params: dict[Any, str] = {}
    _add_params(params, reports, windows, settings, summary)
    base = plan_prefix(settings.prefix, request.plan_id)
    with _open_run(settings, services, summary.run_id) as run:
        partners = [run.partner(secret) for secret in settings.secret_ids]
        items: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for p in partners:
            for w in windows:
                for r in reports:
                    if (r.name, w) not in params:
                        continue
                    if p.partner_id is None:
                        # the secret could not even be read: no key to give these units; they fail in the summary
                        error = p.error
                        result = UnitResult(r.name, r.id, None, w.iso_start(), w.iso_end(), w.dt.isoformat(), "FAILED")
                        if error is not None:
                            result.error = UnitError(error.code, run.redact(error.message), max(p.attempts, 1))
                        failed.append(result.to_dict())
                        continue
                    items.append(
                        {
                            "mode": "unit",
                            "report": r.name,
                            "partner_id": p.partner_id,
                            "window_start": w.iso_start(),
                            "window_end": w.iso_end(),
                        }
                    )
        document = {
            "plan_id": request.plan_id,
            "run_id": summary.run_id,
            "started_at": iso(started),
            "from": manual.first_day.isoformat(),
            "to": manual.last_day.isoformat(),
            "reports": [r.name for r in reports],
            "partners": [p.partner_id for p in partners if p.partner_id is not None],
            "warnings": summary.warnings,
            "error": None if summary.error is None else summary.error.to_dict(),
            "units": len(items),
            "failed": failed,
        }
        run.sink.put_json(base + "units.json", items)
        run.sink.put_json(base + "plan.json", document)
    logger.info("backfill planned", extra={"plan_id": request.plan_id, "units": len(items), "max_concurrency": limit})
    return {
        "plan_id": request.plan_id,
        "bucket": settings.bucket,
        "key": base + "units.json",
        "results_prefix": base + "results",
        "units": len(items),
        "max_concurrency": limit,
    }


def summarise(request: SummaryRequest, settings: Settings, services: Services) -> RunSummary:
    """One run summary from the Map's results; written to _runs/ and published once."""
    base = plan_prefix(settings.prefix, request.plan_id)
    document = ledger.get_json(services.s3, settings.bucket, base + "plan.json")
    if not isinstance(document, Mapping):
        raise EventError(f"summary event: no plan at {s3_uri(settings.bucket, base + 'plan.json')}")
    summary = RunSummary(
        run_id=str(document["run_id"]),
        trigger="manual",
        started_at=parse_instant(str(document["started_at"])),
        partners=[int(p) for p in document.get("partners", [])],
        warnings=[str(w) for w in document.get("warnings", [])],
    )
    if document.get("error"):
        error = document["error"]
        summary.error = UnitError(str(error["code"]), str(error["message"]), int(error.get("attempts", 0)))
    results: dict[tuple[Any, ...], UnitResult] = {}
    for item, result in _map_results(services.s3, settings.bucket, base + "results/"):
        results[_unit_id(item)] = result
    planned = ledger.get_json(services.s3, settings.bucket, base + "units.json") or []
    map_error = request.map_output.get("Error") if "Error" in request.map_output else None
    reports = [UnitResult.from_dict(d) for d in document.get("failed", [])]
    for item in planned:
        found = results.get(_unit_id(item))
        if found is None:
            found = _unit_failed(item, "NOT_RUN", _cause(request.map_output) or "the Map ended before this unit ran")
        reports.append(found)
    summary.reports = reports
    if map_error:
        summary.warnings.append(f"the backfill's Map failed ({map_error}): {_cause(request.map_output)}")
    for unit in reports:
        summary.warnings.extend(unit.warnings)
        if unit.error is not None:
            # a crashed execution's Cause is the function's raw error text
            unit.error.message = services.redactor(unit.error.message)
    with _open_run(settings, services, summary.run_id) as run:
        summary.finished_at = services.clock()
        _finish(summary, run)
    return summary


def _map_results(s3: Any, bucket: str, prefix: str) -> list[tuple[Mapping[str, Any], UnitResult]]:
    """(item, unit result) for every child execution the Map's ResultWriter recorded under ``prefix``."""
    out: list[tuple[Mapping[str, Any], UnitResult]] = []
    for key in ledger.list_keys(s3, bucket, prefix):
        if not key.endswith("/manifest.json"):
            continue
        manifest = ledger.get_json(s3, bucket, key) or {}
        files = manifest.get("ResultFiles", {})
        for status in ("SUCCEEDED", "FAILED", "PENDING"):
            for entry in files.get(status, []):
                for execution in ledger.get_json(s3, bucket, entry["Key"]) or []:
                    item = _json(execution.get("Input"))
                    if not isinstance(item, Mapping):
                        continue
                    output = _json(execution.get("Output"))
                    if execution.get("Status") == "SUCCEEDED" and isinstance(output, Mapping) and "status" in output:
                        out.append((item, UnitResult.from_dict(output)))
                    else:
                        error = str(execution.get("Error") or execution.get("Status") or status)
                        cause = str(execution.get("Cause") or "the unit's execution did not finish")
                        out.append((item, _unit_failed(item, error, cause)))
    return out


def _unit_id(item: Mapping[str, Any]) -> tuple[Any, ...]:
    return (str(item.get("report")), int(item.get("partner_id") or 0), str(item.get("window_start")))


def _unit_failed(item: Mapping[str, Any], code: str, cause: str) -> UnitResult:
    from .catalogue import report_for

    report = report_for(str(item["report"]), field="report")
    start = str(item["window_start"])
    result = UnitResult(
        report.name,
        report.id,
        int(item["partner_id"]),
        start,
        str(item["window_end"]),
        parse_instant(start).astimezone(UTC).date().isoformat(),
        "FAILED",
    )
    result.error = UnitError(code, _short(cause), 0, "run the backfill again for this range: it re-exports the unit")
    return result


def _cause(output: Mapping[str, Any]) -> str:
    cause = output.get("Cause")
    return _short(str(cause)) if cause else ""


def _short(text: str) -> str:
    # a Lambda error's Cause is JSON with a stack trace: its message is what a person needs
    parsed = _json(text)
    if isinstance(parsed, Mapping) and "errorMessage" in parsed:
        text = str(parsed["errorMessage"])
    return text[:500]


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None
