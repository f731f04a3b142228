"""Run orchestration: event → windows × reports → units run concurrently → summary, _runs/, notification."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import requests
from aws_lambda_powertools import Logger
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .catalogue import Report, build_params
from .credentials import Credentials, parse_secret
from .errors import EventError, ExportError, SecretError
from .events import ManualRequest, Request, ScheduledRequest, UnitRequest, parse_event
from .kaltura import KalturaClient
from .layout import data_key, manifest_key, run_key, s3_uri
from .manifest import build_manifest
from .normalise import Normaliser
from .notify import sns_message
from .redact import Redactor
from .retries import Attempts
from .settings import Settings, normalise_service_url
from .sink import S3Sink
from .summary import RunSummary, UnitError, UnitResult, iso
from .windows import Window, manual_windows, scheduled_windows, window_starting

logger = Logger(child=True)


class Telemetry(Protocol):
    """Where per-unit and per-run figures go (Powertools Metrics in Lambda)."""

    def unit_done(self, result: UnitResult) -> None: ...

    def run_done(self, summary: RunSummary) -> None: ...


@dataclass
class Services:
    """The collaborators a run needs, built by the composition root and injected."""

    s3: Any
    #: returns the SNS client, built on first use (a run without a topic never builds one)
    sns: Callable[[], Any]
    #: (secret name or ARN, bypass the cache) -> the secret's string value
    read_secret: Callable[[str, bool], str]
    telemetry: Telemetry | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    part_size: int | None = None


class RunFailed(ExportError):
    """Raised after notifying, so Lambda's error metric and failure destination see a FAILED run."""

    code = "RUN_FAILED"

    def __init__(self, summary: RunSummary) -> None:
        failed = summary.count("FAILED")
        if summary.error is not None:
            text = f"run {summary.run_id} FAILED: {summary.error.code}: {summary.error.message}"
        else:
            text = f"run {summary.run_id} FAILED: {failed} of {len(summary.reports)} report exports failed"
        super().__init__(text + (f"; summary at {summary.uri}" if summary.uri else ""))
        self.summary = summary


@dataclass
class _Partner:
    secret: str
    partner_id: int | None
    client: KalturaClient | None = None
    ks: str | None = None
    error: ExportError | None = None
    attempts: int = 0


def handle(event: Any, settings: Settings, services: Services) -> dict[str, Any]:
    """The whole invocation: parse the event, run it, notify; raises RunFailed/EventError after notifying."""
    redactor = Redactor()
    try:
        request = parse_event(event)
    except EventError as exc:
        logger.error("invalid event", extra={"error_code": exc.code, "error": exc.message})
        summary = RunSummary(run_id=new_run_id(services.clock()), trigger="manual", started_at=services.clock())
        summary.error = UnitError(exc.code, exc.message, 0, exc.action)
        summary.finished_at = services.clock()
        notify(summary, settings.topic_arn, services)
        raise
    if isinstance(request, UnitRequest):
        return run_unit_request(request, settings, services, redactor).to_dict()
    summary = run_export(request, settings, services, redactor)
    if summary.status == "FAILED":
        raise RunFailed(summary)
    return summary.to_dict()


def new_run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def plan_windows(request: ScheduledRequest | ManualRequest, settings: Settings) -> list[Window]:
    if isinstance(request, ScheduledRequest):
        return scheduled_windows(request.scheduled_time, settings.period, settings.tz, settings.lookback)
    return manual_windows(request.first_day, request.last_day, settings.period, settings.tz)


def run_export(
    request: ScheduledRequest | ManualRequest, settings: Settings, services: Services, redactor: Redactor
) -> RunSummary:
    """Export every (report, window) of the request for every partner, write the summary and notify."""
    started = services.clock()
    trigger = "schedule" if isinstance(request, ScheduledRequest) else "manual"
    summary = RunSummary(run_id=new_run_id(started), trigger=trigger, started_at=started)
    reports = (request.reports if isinstance(request, ManualRequest) else None) or settings.reports
    windows = plan_windows(request, settings)
    sink = _sink(settings, services)
    logger.info(
        "run started",
        extra={"run_id": summary.run_id, "trigger": trigger, "windows": len(windows), "reports": [r.name for r in reports]},
    )
    with _http_session(settings) as http:
        partners = [_open_partner(s, settings, services, http, redactor) for s in settings.secret_ids]
        summary.partners = [p.partner_id for p in partners if p.partner_id is not None]
        params_by_unit: dict[tuple[str, Window], str] = {}
        for report in reports:
            for window in windows:
                try:
                    params, warnings = build_params(report, window.start_s, window.end_s, settings.filters)
                except ExportError as exc:
                    summary.error = UnitError(exc.code, exc.message, 0, exc.action)
                    continue
                params_by_unit[(report.name, window)] = params
                for w in warnings:
                    if w not in summary.warnings:
                        summary.warnings.append(w)
        units = [(p, r, w) for p in partners for w in windows for r in reports if (r.name, w) in params_by_unit]
        with ThreadPoolExecutor(max_workers=settings.max_concurrency, thread_name_prefix="unit") as pool:
            futures = [
                pool.submit(_export_unit, p, r, w, params_by_unit[(r.name, w)], settings, sink, summary.run_id, services, redactor)
                for p, r, w in units
            ]
            summary.reports = [f.result() for f in futures]
    summary.finished_at = services.clock()
    _finish(summary, settings, sink, services)
    return summary


def run_unit_request(request: UnitRequest, settings: Settings, services: Services, redactor: Redactor) -> UnitResult:
    """One unit named by a Step Functions item; no notification."""
    try:
        window = window_starting(request.window_start, settings.period, settings.tz)
    except ValueError as exc:
        raise EventError(f"window_start: {exc}") from None
    if window.end != request.window_end:
        raise EventError(f"window_end must be {window.iso_end()} for the {settings.period.value} period starting {window.iso_start()}")
    sink = _sink(settings, services)
    run_id = new_run_id(services.clock())
    with _http_session(settings) as http:
        partners = [_open_partner(s, settings, services, http, redactor) for s in settings.secret_ids]
        matching = [p for p in partners if p.partner_id == request.partner_id]
        if not matching:
            raise EventError(f"partner_id {request.partner_id} is not one of the configured secrets' partners")
        params, _ = build_params(request.report, window.start_s, window.end_s, settings.filters)
        result = _export_unit(matching[0], request.report, window, params, settings, sink, run_id, services, redactor)
    if services.telemetry:
        services.telemetry.unit_done(result)
    return result


def _sink(settings: Settings, services: Services) -> S3Sink:
    if services.part_size:
        return S3Sink(services.s3, settings.bucket, part_size=services.part_size)
    return S3Sink(services.s3, settings.bucket)


class _http_session:
    """One pooled requests.Session per run; urllib3 retries only connection set-up (tenacity owns the rest)."""

    def __init__(self, settings: Settings) -> None:
        self.session = requests.Session()
        retry = Retry(total=None, connect=2, read=0, redirect=0, status=0, other=0, backoff_factor=0.2)
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(settings.max_concurrency, 2), max_retries=retry)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def __enter__(self) -> requests.Session:
        return self.session

    def __exit__(self, *exc: object) -> None:
        self.session.close()


def _open_partner(
    secret: str, settings: Settings, services: Services, http: requests.Session, redactor: Redactor
) -> _Partner:
    """Read one secret and start its session; a failure here fails only this partner's units."""
    partner = _Partner(secret=secret, partner_id=None)
    try:
        creds = _read_credentials(secret, services, redactor)
        partner.partner_id = creds.partner_id
        url = normalise_service_url(creds.service_url) if creds.service_url else settings.service_url
        partner.client = KalturaClient(url, session=http, redactor=redactor, timeout=settings.kaltura_timeout)
        attempts = Attempts(settings.retry_base_delay)
        client = partner.client
        try:
            partner.ks = attempts(lambda: client.start_session(creds))
        finally:
            partner.attempts = attempts.count
        logger.info("session started", extra={"partner_id": partner.partner_id, "secret": secret})
    except ExportError as exc:
        partner.error = exc
        logger.error("partner unavailable", extra={"secret": secret, "error_code": exc.code, "error": redactor(exc.message)})
    return partner


def _read_credentials(secret: str, services: Services, redactor: Redactor) -> Credentials:
    try:
        value = services.read_secret(secret, False)
    except ExportError:
        raise
    except Exception as exc:
        reason = redactor(str(exc))[:300]
        raise SecretError(f"secret {secret} could not be read: {reason}") from None
    if not isinstance(value, str):
        raise SecretError(f"secret {secret}: the value must be a string (SecretString), not binary")
    # the raw value itself may be a KS or hold one; remember it before anything can echo it
    redactor.add(value.strip())
    creds = parse_secret(value, name=secret)
    for attr in ("ks", "admin_secret", "app_token"):
        redactor.add(getattr(creds, attr, None))
    return creds


def _export_unit(
    partner: _Partner,
    report: Report,
    window: Window,
    params: str,
    settings: Settings,
    sink: S3Sink,
    run_id: str,
    services: Services,
    redactor: Redactor,
) -> UnitResult:
    started = services.clock()
    result = UnitResult(
        report=report.name,
        report_id=report.id,
        partner_id=partner.partner_id,
        window_start=window.iso_start(),
        window_end=window.iso_end(),
        dt=window.dt.isoformat(),
        status="FAILED",
    )
    attempts = Attempts(settings.retry_base_delay)
    try:
        if partner.error is not None:
            attempts.count = partner.attempts
            raise partner.error
        assert partner.client is not None and partner.ks is not None and partner.partner_id is not None
        client, ks, pid = partner.client, partner.ks, partner.partner_id
        key = data_key(settings.prefix, report, pid, window)
        excluded = tuple(c for c in settings.excluded_fields if c in report.columns)

        def attempt() -> tuple[Any, Any]:
            normaliser = Normaliser(report.columns, excluded=excluded, row_cap=settings.row_cap)
            with client.report_csv(ks, report.id, params, excluded) as body:
                landed = sink.upload(key, normaliser.feed(body))
            return landed, normaliser.stats

        landed, stats = attempts(attempt)
        finished = services.clock()
        sink.put_json(
            manifest_key(settings.prefix, report, pid, window),
            build_manifest(
                report=report,
                partner_id=pid,
                window=window,
                bucket=settings.bucket,
                landed=landed,
                stats=stats,
                params=params,
                attempts=attempts.count,
                run_id=run_id,
                started_at=started,
                finished_at=finished,
            ),
        )
        result.status = "SUCCEEDED"
        result.rows, result.bytes, result.s3_uri = stats.rows, landed.bytes, s3_uri(settings.bucket, key)
        result.drift = {k: v for k, v in (("added", stats.added), ("dropped", stats.dropped)) if v}
        logger.info(
            "unit landed",
            extra={
                "report": report.name,
                "partner_id": pid,
                "window_start": result.window_start,
                "rows": stats.rows,
                "bytes": landed.bytes,
                "attempts": attempts.count,
                "s3_key": key,
            },
        )
    except ExportError as exc:
        result.error = UnitError(exc.code, redactor(exc.message), max(attempts.count, 1), exc.action)
    except Exception as exc:  # a bug or an unexpected library error: fail this unit, keep the others going
        logger.exception("unit crashed", extra={"report": report.name, "window_start": result.window_start})
        result.error = UnitError("INTERNAL_ERROR", redactor(f"{type(exc).__name__}: {exc}")[:500], max(attempts.count, 1))
    if result.error is not None:
        logger.error(
            "unit failed",
            extra={
                "report": report.name,
                "partner_id": partner.partner_id,
                "window_start": result.window_start,
                "error_code": result.error.code,
                "error": result.error.message,
                "attempts": result.error.attempts,
            },
        )
    result.attempts = attempts.count
    result.duration_ms = int((services.clock() - started).total_seconds() * 1000)
    return result


def _finish(summary: RunSummary, settings: Settings, sink: S3Sink, services: Services) -> None:
    key = run_key(settings.prefix, summary.run_id)
    try:
        sink.put_json(key, summary.to_dict())
        summary.uri = s3_uri(settings.bucket, key)
    except ExportError as exc:
        logger.error("run summary not written", extra={"error": exc.message})
        summary.warnings.append(f"the run summary could not be written to {s3_uri(settings.bucket, key)}: {exc.message}")
    if services.telemetry:
        for unit in summary.reports:
            services.telemetry.unit_done(unit)
        services.telemetry.run_done(summary)
    notify(summary, settings.topic_arn, services)
    logger.info(
        "run finished",
        extra={
            "run_id": summary.run_id,
            "status": summary.status,
            "succeeded": summary.count("SUCCEEDED"),
            "failed": summary.count("FAILED"),
            "summary_uri": summary.uri,
            "started_at": iso(summary.started_at),
        },
    )


def notify(summary: RunSummary, topic_arn: str | None, services: Services) -> bool:
    """Publish the summary; a failure of SNS itself is logged and never hides the export's result."""
    if not topic_arn:
        return False
    try:
        services.sns().publish(TopicArn=topic_arn, **sns_message(summary))
    except Exception as exc:
        logger.error("notification failed", extra={"topic_arn": topic_arn, "error": f"{type(exc).__name__}: {exc}"[:300]})
        return False
    return True


def settings_failure(exc: ExportError, env: Mapping[str, str], services: Services) -> None:
    """Best effort: tell the topic (if one is configured and valid) that the run could not start."""
    topic = env.get("NOTIFY_TOPIC_ARN", "").strip()
    now = services.clock()
    summary = RunSummary(run_id=new_run_id(now), trigger="manual", started_at=now, finished_at=now)
    summary.error = UnitError(exc.code, exc.message, 0, exc.action)
    if topic.startswith("arn:") and ":sns:" in topic:
        notify(summary, topic, services)
