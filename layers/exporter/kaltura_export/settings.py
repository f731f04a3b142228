"""Typed, validated settings built once at the edge from environment variables (or CLI flags)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .catalogue import FILTER_SETTINGS, REPORTS, Report, resolve_reports
from .errors import ConfigError, ExportError
from .windows import Period

DEFAULT_SERVICE_URL = "https://www.kaltura.com"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_TOPIC = re.compile(r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()\-]+(/[A-Za-z0-9!_.*'()\-]+)*$")

T = TypeVar("T")

#: every variable Settings.from_env reads (the CLI and the tests clear or set exactly these)
VARIABLES = (
    "KALTURA_SERVICE_URL",
    "KALTURA_SECRET_ARN",
    "KALTURA_SECRET_ARNS",
    "EXPORT_BUCKET",
    "EXPORT_PREFIX",
    "NOTIFY_TOPIC_ARN",
    "REPORTS",
    "PERIOD",
    "TIMEZONE",
    "LOOKBACK",
    *FILTER_SETTINGS,
    "EXCLUDED_FIELDS",
    "MAX_CONCURRENCY",
    "ROW_CAP",
    "KALTURA_TIMEOUT",
    "RETRY_BASE_DELAY",
    "SHRINK_THRESHOLD",
    "HEAL_LIMIT",
)


@dataclass(frozen=True)
class Settings:
    """Everything a run is configured with; see DESIGN.md "Configuration"."""

    bucket: str
    secret_ids: tuple[str, ...]
    service_url: str = DEFAULT_SERVICE_URL
    prefix: str = "kaltura"
    topic_arn: str | None = None
    reports: tuple[Report, ...] = REPORTS
    period: Period = Period.DAILY
    timezone: str = "UTC"
    lookback: int = 3
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    excluded_fields: tuple[str, ...] = ()
    max_concurrency: int = 4
    row_cap: int = 100_000
    kaltura_timeout: float = 660.0
    #: first delay of the exponential backoff between retries of one unit, seconds
    retry_base_delay: float = 2.0
    #: warn when a re-export has fewer than this fraction of the rows of the object it replaces
    shrink_threshold: float = 0.5
    #: most earlier units (report × partner × period) with no manifest a scheduled run re-exports; 0 = off
    heal_limit: int = 9

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from variables; every problem is named with its variable and what was expected."""
        problems: list[str] = []

        def take(name: str, parse: Callable[[str], T], default: T) -> T:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return parse(raw)
            except (ValueError, ExportError) as exc:
                problems.append(str(exc) if str(exc).startswith(name) else f"{name} {exc}")
                return default

        single = env.get("KALTURA_SECRET_ARN", "").strip()
        many = env.get("KALTURA_SECRET_ARNS", "").strip()
        secret_ids: tuple[str, ...] = ()
        if single and many:
            problems.append("KALTURA_SECRET_ARN and KALTURA_SECRET_ARNS are both set; set only one")
        elif single:
            secret_ids = (single,)
        elif many:
            try:
                secret_ids = _list("KALTURA_SECRET_ARNS", many)
            except ConfigError as exc:
                problems.append(str(exc))
        else:
            problems.append(
                "KALTURA_SECRET_ARN is required (the Secrets Manager secret holding the Kaltura credentials)"
            )
        if len(set(secret_ids)) != len(secret_ids):
            problems.append("KALTURA_SECRET_ARNS lists the same secret twice")

        bucket = env.get("EXPORT_BUCKET", "").strip()
        if not bucket:
            problems.append("EXPORT_BUCKET is required (the destination bucket)")
        elif not _BUCKET.match(bucket) or ".." in bucket:
            problems.append(
                "EXPORT_BUCKET must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens); "
                f"got {bucket!r}"
            )

        reports = take("REPORTS", lambda v: resolve_reports(_list("REPORTS", v)), REPORTS)
        filters: dict[str, tuple[str, ...]] = {}
        no_items: tuple[str, ...] = ()
        for name in FILTER_SETTINGS:
            values = take(name, partial(_filter_list, name), no_items)
            if values:
                filters[name] = values
        excluded = take("EXCLUDED_FIELDS", partial(_list, "EXCLUDED_FIELDS"), no_items)
        known_columns = {c for r in reports for c in r.columns}
        for col in excluded:
            if col not in known_columns:
                problems.append(f"EXCLUDED_FIELDS: {col!r} is not a column of the selected reports")

        settings = cls(
            bucket=bucket,
            secret_ids=secret_ids,
            service_url=take("KALTURA_SERVICE_URL", normalise_service_url, DEFAULT_SERVICE_URL),
            prefix=take("EXPORT_PREFIX", _prefix, "kaltura"),
            topic_arn=take("NOTIFY_TOPIC_ARN", _topic, None),
            reports=reports,
            period=take("PERIOD", _period, Period.DAILY),
            timezone=take("TIMEZONE", _zone, "UTC"),
            lookback=take("LOOKBACK", lambda v: _int("LOOKBACK", v, 1, 1000), 3),
            filters=filters,
            excluded_fields=excluded,
            max_concurrency=take("MAX_CONCURRENCY", lambda v: _int("MAX_CONCURRENCY", v, 1, 64), 4),
            row_cap=take("ROW_CAP", lambda v: _int("ROW_CAP", v, 1, 10_000_000), 100_000),
            kaltura_timeout=take("KALTURA_TIMEOUT", lambda v: _float("KALTURA_TIMEOUT", v, 1, 900), 660.0),
            retry_base_delay=take("RETRY_BASE_DELAY", lambda v: _float("RETRY_BASE_DELAY", v, 0, 60), 2.0),
            shrink_threshold=take("SHRINK_THRESHOLD", _fraction, 0.5),
            heal_limit=take("HEAL_LIMIT", lambda v: _int("HEAL_LIMIT", v, 0, 1000), 9),
        )
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return settings


def normalise_service_url(value: str) -> str:
    """``https://host[/path]`` without a trailing ``/`` or ``/api_v3``; plain http only on this machine."""
    url = value.strip().rstrip("/")
    if url.endswith("/api_v3"):
        url = url[: -len("/api_v3")].rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"KALTURA_SERVICE_URL must be an https:// URL such as {DEFAULT_SERVICE_URL}; got {value!r}")
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        raise ConfigError(
            f"KALTURA_SERVICE_URL must use https:// (http:// only for 127.0.0.1/localhost); got {value!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("KALTURA_SERVICE_URL must not carry credentials, a query or a fragment")
    return url


def _list(name: str, value: str) -> tuple[str, ...]:
    items = tuple(i.strip() for i in value.split(","))
    if any(not i for i in items):
        raise ConfigError(f"{name}: empty item in the comma list {value!r}")
    return items


def _filter_list(name: str, value: str) -> tuple[str, ...]:
    items = _list(name, value)
    for item in items:
        if ";" in item:
            raise ConfigError(f"{name}: {item!r} contains ';', which Kaltura's params cannot carry")
    return items


def _prefix(value: str) -> str:
    prefix = value.strip("/")
    if not _PREFIX.match(prefix) or ".." in prefix.split("/"):
        raise ConfigError(f"EXPORT_PREFIX must be a plain key prefix such as kaltura or exports/kaltura; got {value!r}")
    return prefix


def _topic(value: str) -> str:
    if not _TOPIC.match(value):
        raise ConfigError(
            f"NOTIFY_TOPIC_ARN must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>); got {value!r}"
        )
    return value


def _period(value: str) -> Period:
    try:
        return Period(value.lower())
    except ValueError:
        raise ConfigError(f'PERIOD must be one of {", ".join(p.value for p in Period)}; got "{value}"') from None


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f'TIMEZONE must be an IANA time zone such as Europe/Berlin or UTC; got "{value}"') from None
    return value


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f'{name} must be a whole number between {low} and {high}; got "{value}"') from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be a whole number between {low} and {high}; got {number}")
    return number


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 1:
        raise ConfigError(
            f'SHRINK_THRESHOLD must be a fraction between 0 and 1 (0 turns the warning off); got "{value}"'
        )
    return number


def _float(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f'{name} must be a number of seconds between {low:g} and {high:g}; got "{value}"') from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be a number of seconds between {low:g} and {high:g}; got {value}")
    return number
