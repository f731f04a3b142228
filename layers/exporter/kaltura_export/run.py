"""Run orchestration: event → windows × reports → units run concurrently → summary, _runs/, notification."""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Literal, Protocol, TypeVar

import requests
from aws_lambda_powertools import Logger
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import ledger
from .catalogue import Report, build_params
from .coverage import gaps, on_grid
from .errors import EventError, ExportError, KalturaError, RowCapError
from .events import ManualRequest, PlanRequest, ScheduledRequest, SummaryRequest, UnitRequest, parse_event
from .kaltura import KalturaClient
from .layout import data_key, manifest_key, run_key, s3_uri
from .manifest import build_manifest
from .normalise import Normaliser, NormaliseStats
from .notify import sns_message
from .redact import REDACTOR, Redactor
from .retries import Attempts, Budget
from .sessions import PartnerSession
from .settings import Settings
from .sink import ABSENT, Current, Landed, PreconditionFailed, S3Sink
from .split import Part, split, splittable
from .summary import RunSummary, UnitError, UnitResult, iso
from .windows import Window, manual_windows, scheduled_windows, window_starting

logger = Logger(child=True)
T = TypeVar("T")


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
    #: (secret name or ARN, bypass the cache) -> the secret's value (bytes when it is a SecretBinary)
    read_secret: Callable[[str, bool], str | bytes]
    telemetry: Telemetry | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: seconds the invocation has left (Lambda's context); None = no limit
    remaining: Callable[[], float] | None = None
    part_size: int | None = None
    redactor: Redactor = field(default_factory=lambda: REDACTOR)


@dataclass
class RunOptions:
    """How a run started by a person (the CLI) differs from the Lambda's."""

    #: skip a unit whose manifest shows a complete object that is still in S3 (a resumed backfill)
    resume: bool = False
    #: publish the summary to the topic (a CLI backfill only with --notify)
    notify: bool = True
    #: re-export earlier periods with no manifest (scheduled runs only)
    heal: bool = True
    #: called from the worker threads as each unit ends (the progress bar)
    on_unit: Callable[[UnitResult], None] | None = None
    #: called once the units are known, with their count (the progress bar's total)
    on_plan: Callable[[int], None] | None = None
    #: set (on Ctrl-C) to start no further unit; the units in flight finish
    stop: threading.Event | None = None


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
class _Run:
    """What every unit of one run shares."""

    settings: Settings
    services: Services
    run_id: str
    sink: S3Sink
    budget: Budget
    http: requests.Session
    #: Kaltura report calls in flight in this process: the parts of a split unit share it with the other units,
    #: so MAX_CONCURRENCY bounds the calls, not just the units (README "Load on Kaltura")
    calls: threading.BoundedSemaphore

    @property
    def redact(self) -> Redactor:
        return self.services.redactor

    def attempts(self) -> Attempts:
        return Attempts(self.settings.retry_base_delay, self.budget)

    def attempts_sharing(self, unit: Attempts) -> Attempts:
        """Attempts for one part of a split unit, counted into the unit's total."""
        return Attempts(self.settings.retry_base_delay, self.budget, counter=unit)

    @property
    def split_concurrency(self) -> int:
        # the parts of one unit share Kaltura's load with the other units in flight
        return max(1, min(4, self.settings.max_concurrency))

    def partner(self, secret: str) -> PartnerSession:
        return PartnerSession(
            secret,
            read_secret=self.services.read_secret,
            client_for=lambda url: KalturaClient(
                url, session=self.http, redactor=self.redact, timeout=self.settings.kaltura_timeout
            ),
            default_service_url=self.settings.service_url,
            redactor=self.redact,
            attempts=self.attempts,
        ).open()


def handle(event: Any, settings: Settings, services: Services) -> dict[str, Any]:
    """The whole invocation: parse the event, run it, notify; raises RunFailed/EventError after notifying."""
    try:
        request = parse_event(event)
    except EventError as exc:
        _event_failed(exc, settings, services)
        raise
    if isinstance(request, UnitRequest | PlanRequest):
        try:
            if isinstance(request, PlanRequest):
                from .fanout import plan

                return plan(request, settings, services)
            return run_unit_request(request, settings, services).to_dict()
        except EventError as exc:
            # a unit event can also be malformed in ways only the settings reveal (not a period, unknown partner)
            _event_failed(exc, settings, services)
            raise
    if isinstance(request, SummaryRequest):
        from .fanout import summarise

        # a FAILED backfill is reported by the summary and the state machine's Fail state, not by raising here
        return summarise(request, settings, services).to_dict()
    summary = run_export(request, settings, services)
    if summary.status == "FAILED":
        raise RunFailed(summary)
    return summary.to_dict()


def _event_failed(exc: EventError, settings: Settings, services: Services) -> None:
    logger.error("invalid event", extra={"error_code": exc.code, "error": exc.message})
    now = services.clock()
    summary = RunSummary(run_id=new_run_id(now), trigger="manual", started_at=now, finished_at=now)
    summary.error = UnitError(exc.code, exc.message, 0, exc.action)
    notify(summary, settings.topic_arn, services)


def new_run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def plan_windows(request: ScheduledRequest | ManualRequest, settings: Settings) -> list[Window]:
    if isinstance(request, ScheduledRequest):
        return scheduled_windows(request.scheduled_time, settings.period, settings.tz, settings.lookback)
    return manual_windows(request.first_day, request.last_day, settings.period, settings.tz)


def run_export(
    request: ScheduledRequest | ManualRequest,
    settings: Settings,
    services: Services,
    options: RunOptions | None = None,
) -> RunSummary:
    """Export every (report, window) of the request for every partner, write the summary and notify."""
    options = options or RunOptions()
    started = services.clock()
    trigger: Literal["schedule", "manual"] = "schedule" if isinstance(request, ScheduledRequest) else "manual"
    summary = RunSummary(run_id=new_run_id(started), trigger=trigger, started_at=started)
    reports = (request.reports if isinstance(request, ManualRequest) else None) or settings.reports
    windows = plan_windows(request, settings)
    logger.info(
        "run started",
        extra={
            "run_id": summary.run_id,
            "trigger": trigger,
            "windows": len(windows),
            "reports": [r.name for r in reports],
        },
    )
    params: dict[tuple[str, Window], str] = {}
    _add_params(params, reports, windows, settings, summary)
    with _open_run(settings, services, summary.run_id) as run:
        partners = [run.partner(secret) for secret in settings.secret_ids]
        summary.partners = [p.partner_id for p in partners if p.partner_id is not None]
        units = [(p, r, w) for p in partners for w in windows for r in reports if (r.name, w) in params]
        if isinstance(request, ScheduledRequest) and options.heal and settings.heal_limit and windows:
            healing = _healing_units(run, partners, reports, windows[0].start, summary)
            _add_params(params, reports, sorted({w for _, _, w in healing}), settings, summary)
            units += [(p, r, w) for p, r, w in healing if (r.name, w) in params]
        if options.on_plan:
            options.on_plan(len(units))
        summary.reports = run_units(run, units, params, options)
        if len(summary.reports) < len(units):
            summary.error = UnitError(
                "INTERRUPTED",
                f"stopped after {len(summary.reports)} of {len(units)} report exports",
                0,
                "run the same command again: it skips what landed and exports the rest",
            )
        for unit in summary.reports:
            summary.warnings.extend(unit.warnings)
        summary.finished_at = services.clock()
        _finish(summary, run, notify_topic=options.notify)
    return summary


def _add_params(
    params: dict[tuple[str, Window], str],
    reports: tuple[Report, ...],
    windows: list[Window],
    settings: Settings,
    summary: RunSummary,
) -> None:
    for report in reports:
        for window in windows:
            if (report.name, window) in params:
                continue
            try:
                params[(report.name, window)], warnings = build_params(
                    report, window.start_s, window.end_s, settings.filters
                )
            except ExportError as exc:
                summary.error = UnitError(exc.code, exc.message, 0, exc.action)
                break
            summary.warnings.extend(w for w in warnings if w not in summary.warnings)


Unit = tuple[PartnerSession, Report, Window]


def run_units(
    run: _Run, units: list[Unit], params: Mapping[tuple[str, Window], str], options: RunOptions
) -> list[UnitResult]:
    """The units, at most MAX_CONCURRENCY at once, in plan order; after ``options.stop`` none starts."""

    def one(partner: PartnerSession, report: Report, window: Window) -> UnitResult | None:
        if options.stop is not None and options.stop.is_set():
            return None
        result = _export_unit(run, partner, report, window, params[(report.name, window)], resume=options.resume)
        if options.on_unit:
            options.on_unit(result)
        return result

    with ThreadPoolExecutor(max_workers=run.settings.max_concurrency, thread_name_prefix="unit") as pool:
        futures = [pool.submit(one, p, r, w) for p, r, w in units]
        done = [f.result() for f in futures]
    return [r for r in done if r is not None]


def _healing_units(
    run: _Run, partners: list[PartnerSession], reports: tuple[Report, ...], before: datetime, summary: RunSummary
) -> list[Unit]:
    """Earlier periods, since each report's first landed one, with no manifest: the newest HEAL_LIMIT of them.

    Newest first, so a long outage heals the recent days tonight and older ones on the following nights."""
    settings = run.settings
    found: list[Unit] = []
    for partner in partners:
        pid = partner.partner_id
        if pid is None or partner.error is not None:
            continue
        for report in reports:
            try:
                refs = ledger.manifests(run.services.s3, settings.bucket, settings.prefix, report.name, pid)
            except ExportError as exc:
                logger.warning("self-heal skipped", extra={"report": report.name, "error": exc.message})
                summary.warnings.append(f"self-heal skipped for {report.name}: {exc.message}")
                continue
            landed = on_grid(refs, settings.period, settings.tz)
            found += [(partner, report, w) for w in gaps(landed, before, settings.period, settings.tz)]
    found.sort(key=lambda u: u[2].start, reverse=True)
    chosen, left = found[: settings.heal_limit], found[settings.heal_limit :]
    if chosen:
        names = ", ".join(f"{r.name} {w.dt.isoformat()}" for p, r, w in chosen)
        text = f"self-heal: re-exporting {len(chosen)} earlier period(s) with no export: {names}"
        if left:
            text += f"; {len(left)} more heal on the next runs (HEAL_LIMIT {settings.heal_limit})"
        summary.warnings.append(text)
        logger.info("self-heal", extra={"units": len(chosen), "remaining": len(left)})
    return chosen


def run_unit_request(request: UnitRequest, settings: Settings, services: Services) -> UnitResult:
    """One unit named by a Step Functions item; no notification."""
    try:
        window = window_starting(request.window_start, settings.period, settings.tz)
    except ValueError as exc:
        raise EventError(f"window_start: {exc}") from None
    if window.end != request.window_end:
        raise EventError(
            f"window_end must be {window.iso_end()} for the {settings.period.value} period "
            f"starting {window.iso_start()}"
        )
    params, _ = build_params(request.report, window.start_s, window.end_s, settings.filters)
    # one Kaltura call at a time: the Map's MaxConcurrency is then the backfill's whole load (README)
    with _open_run(settings, services, new_run_id(services.clock()), calls=1) as run:
        partners = [run.partner(secret) for secret in settings.secret_ids]
        matching = [p for p in partners if p.partner_id == request.partner_id]
        if not matching:
            raise EventError(f"partner_id {request.partner_id} is not one of the configured secrets' partners")
        result = _export_unit(run, matching[0], request.report, window, params)
    if services.telemetry:
        services.telemetry.unit_done(result)
    return result


class _open_run:
    """A run's shared parts; one pooled requests.Session whose urllib3 retries cover connection set-up only
    (tenacity owns every other retry)."""

    def __init__(self, settings: Settings, services: Services, run_id: str, *, calls: int | None = None) -> None:
        http = requests.Session()
        retry = Retry(total=None, connect=2, read=0, redirect=0, status=0, other=0, backoff_factor=0.2)
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(settings.max_concurrency, 2), max_retries=retry)
        http.mount("https://", adapter)
        http.mount("http://", adapter)
        part = {"part_size": services.part_size} if services.part_size else {}
        self.run = _Run(
            settings=settings,
            services=services,
            run_id=run_id,
            sink=S3Sink(services.s3, settings.bucket, **part),
            budget=Budget(services.remaining),
            http=http,
            calls=threading.BoundedSemaphore(calls or settings.max_concurrency),
        )

    def __enter__(self) -> _Run:
        return self.run

    def __exit__(self, *exc: object) -> None:
        self.run.http.close()


def _with_session(partner: PartnerSession, attempts: Attempts, fn: Callable[[str], T]) -> T:
    """Run ``fn(ks)`` with retries; on INVALID_KS one refreshed session (shared by the partner's units), then fail."""
    ks = partner.ks
    assert ks is not None
    try:
        return attempts(lambda: fn(ks))
    except KalturaError as exc:
        if exc.code != "INVALID_KS":
            raise
    fresh = partner.refresh(ks)
    try:
        return attempts(lambda: fn(fresh))
    except KalturaError as exc:
        if exc.code == "INVALID_KS":
            raise partner.rejected("Kaltura rejected a freshly started session too") from None
        raise


def _fetch_and_land(
    run: _Run,
    partner: PartnerSession,
    report: Report,
    window: Window,
    key: str,
    params: str,
    attempts: Attempts,
    expect: Current | str,
) -> tuple[Landed, NormaliseStats, dict[str, Any] | None]:
    """Kaltura → normaliser → S3 for one unit; a result at the row cap is split by room and landed as one object."""
    client = partner.client
    assert client is not None
    excluded = tuple(c for c in run.settings.excluded_fields if c in report.columns)
    room_column = report.room_column if splittable(report) else None

    def attempt(ks: str) -> tuple[Landed, NormaliseStats]:
        normaliser = Normaliser(report.columns, excluded=excluded, row_cap=run.settings.row_cap, key_column=room_column)
        timeout = run.budget.timeout(run.settings.kaltura_timeout)
        with run.calls, client.report_csv(ks, report.id, params, excluded, timeout=timeout) as body:
            landed = run.sink.upload(key, normaliser.feed(body), expect=expect)
        return landed, normaliser.stats

    try:
        landed, stats = _with_session(partner, attempts, attempt)
        return landed, stats, None
    except RowCapError as exc:
        if not splittable(report):
            raise
        capped = exc.keys
    logger.warning(
        "result at the row cap: splitting by room", extra={"report": report.name, "window_start": window.iso_start()}
    )

    def fetch_part(part_report: Report, filters: Mapping[str, tuple[str, ...]], key_column: str | None) -> Part:
        part_params, _ = build_params(part_report, window.start_s, window.end_s, filters)
        part_excluded = tuple(c for c in run.settings.excluded_fields if c in part_report.columns)

        def part_attempt(ks: str) -> Part:
            normaliser = Normaliser(
                part_report.columns, excluded=part_excluded, row_cap=run.settings.row_cap, key_column=key_column
            )
            spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 (closed by Part)
            try:
                timeout = run.budget.timeout(run.settings.kaltura_timeout)
                with (
                    run.calls,
                    client.report_csv(ks, part_report.id, part_params, part_excluded, timeout=timeout) as body,
                ):
                    for chunk in normaliser.feed(body):
                        spool.write(chunk)
            except BaseException:
                spool.close()
                raise
            return Part(spool, normaliser.stats, normaliser.keys)

        return _with_session(partner, run.attempts_sharing(attempts), part_attempt)

    parts = split(report, run.settings.filters, capped, run.settings.row_cap, fetch_part, run.split_concurrency)
    try:
        header = Normaliser(report.columns).header
        landed = run.sink.upload(key, parts.landed_chunks(header), expect=expect)
        return landed, parts.stats(report.columns), parts.details
    finally:
        parts.close()


def _export_unit(
    run: _Run, partner: PartnerSession, report: Report, window: Window, params: str, *, resume: bool = False
) -> UnitResult:
    started = run.services.clock()
    result = UnitResult(
        report=report.name,
        report_id=report.id,
        partner_id=partner.partner_id,
        window_start=window.iso_start(),
        window_end=window.iso_end(),
        dt=window.dt.isoformat(),
        status="FAILED",
    )
    attempts = run.attempts()
    try:
        if partner.error is not None:
            attempts.count = partner.attempts
            raise partner.error
        pid = partner.partner_id
        assert pid is not None
        key = data_key(run.settings.prefix, report, pid, window)
        mkey = manifest_key(run.settings.prefix, report, pid, window)
        # what is there now: every write below is conditional on it, so concurrent runs cannot interleave
        previous = run.sink.get_json(mkey)
        if resume and previous is not None:
            manifest, s3 = previous[0], run.services.s3
            if ledger.complete(
                s3, run.settings.bucket, manifest, report=report, partner_id=pid, window=window, key=key
            ):
                # landed by an earlier run and still intact: a resumed backfill leaves it as it is
                result.status = "SKIPPED"
                result.rows, result.bytes, result.s3_uri = manifest["rows"], manifest["bytes"], manifest["s3_uri"]
                result.drift = {k: v for k, v in manifest.get("drift", {}).items() if k in ("added", "dropped") and v}
                return _timed(run, result, attempts, started)
        expect = run.sink.current(key) or ABSENT
        landed, stats, split_details = _fetch_and_land(run, partner, report, window, key, params, attempts, expect)
        manifest = build_manifest(
            report=report,
            partner_id=pid,
            window=window,
            bucket=run.settings.bucket,
            landed=landed,
            stats=stats,
            params=params,
            attempts=attempts.count,
            run_id=run.run_id,
            started_at=started,
            finished_at=run.services.clock(),
            split=split_details,
        )
        _write_manifest(run, mkey, manifest, previous[1] if previous else ABSENT, landed)
        result.warnings += _shrinking(run, result, previous[0] if previous else None, stats.rows)
        result.status = "SUCCEEDED"
        result.rows, result.bytes, result.s3_uri = stats.rows, landed.bytes, s3_uri(run.settings.bucket, landed.key)
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
                "s3_key": landed.key,
            },
        )
    except PreconditionFailed as exc:
        # a concurrent run of the same window landed first; its object and its manifest stand together
        result.status = "SKIPPED"
        result.error = UnitError(exc.code, run.redact(exc.message), max(attempts.count, 1), exc.action)
        result.warnings.append(f"{report.name} {result.window_start}: {exc.action}")
        logger.warning("unit superseded", extra={"report": report.name, "window_start": result.window_start})
        return _timed(run, result, attempts, started)
    except ExportError as exc:
        result.error = UnitError(exc.code, run.redact(exc.message), max(attempts.count, 1), exc.action)
    except Exception as exc:  # a bug or an unexpected library error: fail this unit, keep the others going
        logger.exception("unit crashed", extra={"report": report.name, "window_start": result.window_start})
        message = run.redact(f"{type(exc).__name__}: {exc}")[:500]
        result.error = UnitError("INTERNAL_ERROR", message, max(attempts.count, 1))
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
    return _timed(run, result, attempts, started)


def _timed(run: _Run, result: UnitResult, attempts: Attempts, started: datetime) -> UnitResult:
    result.attempts = attempts.count
    result.duration_ms = int((run.services.clock() - started).total_seconds() * 1000)
    return result


def _write_manifest(run: _Run, mkey: str, manifest: dict[str, Any], expect: Current | str, landed: Landed) -> None:
    """Write the manifest only while the object it describes is still the current one under its key."""
    for _ in range(3):
        try:
            run.sink.put_json(mkey, manifest, expect=expect)
            return
        except PreconditionFailed:
            # another run wrote the manifest; ours still counts only if our object is still the one in S3
            now = run.sink.current(landed.key)
            if now is None or not now.is_version(landed.version_id, landed.etag):
                raise
            again = run.sink.get_json(mkey)
            expect = again[1] if again else ABSENT
    raise PreconditionFailed(f"s3://{run.settings.bucket}/{mkey} kept changing while this unit ran")


def _shrinking(run: _Run, result: UnitResult, previous: Any, rows: int) -> list[str]:
    """A warning when a re-export lands far fewer rows than the object it replaced (it lands anyway)."""
    threshold = run.settings.shrink_threshold
    before = previous.get("rows") if isinstance(previous, dict) else None
    if not threshold or not isinstance(before, int) or before <= 0 or rows >= before * threshold:
        return []
    return [
        f"{result.report} {result.window_start} - {result.window_end}: {rows} rows replaced {before} "
        f"(fewer than {threshold:.0%}); Kaltura's newer answer was landed, check the source if this is unexpected"
    ]


def _finish(summary: RunSummary, run: _Run, *, notify_topic: bool = True) -> None:
    settings, services = run.settings, run.services
    key = run_key(settings.prefix, summary.run_id)
    try:
        run.sink.put_json(key, summary.to_dict())
        summary.uri = s3_uri(settings.bucket, key)
    except ExportError as exc:
        logger.error("run summary not written", extra={"error": exc.message})
        summary.warnings.append(
            f"the run summary could not be written to {s3_uri(settings.bucket, key)}: {exc.message}"
        )
    if services.telemetry:
        for unit in summary.reports:
            services.telemetry.unit_done(unit)
        services.telemetry.run_done(summary)
    if notify_topic:
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
        reason = services.redactor(f"{type(exc).__name__}: {exc}")[:300]
        logger.error("notification failed", extra={"topic_arn": topic_arn, "error": reason})
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
