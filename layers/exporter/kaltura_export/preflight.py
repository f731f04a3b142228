"""`kaltura-export check`: everything a run needs, tried once, one line per check, each naming what to fix."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

from .catalogue import build_params
from .credentials import KsCredentials, parse_secret
from .errors import ExportError, KalturaError
from .run import Services, _open_run, new_run_id
from .settings import Settings
from .windows import Period, window_containing

_HINTS = {
    "SERVICE_FORBIDDEN": "the session lacks the ANALYTICS_BASE permission: add it to the app token's (or the "
    "session's) privileges",
    "START_SESSION_ERROR": "Kaltura does not know this partner and secret here: check the admin secret and the "
    "partner id, and the region of KALTURA_SERVICE_URL (EU accounts: https://api.eu.kaltura.com)",
    "INVALID_KS": "Kaltura rejected the KS: expired, revoked, or issued by another region's server "
    "(EU accounts: https://api.eu.kaltura.com)",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def region_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    if host in ("127.0.0.1", "localhost", "::1"):
        return "this machine (an emulator or a tunnel)"
    if host == "www.kaltura.com" or host == "api.kaltura.com" or host.endswith(".nvp1.ovp.kaltura.com"):
        return "Kaltura SaaS, US region"
    if ".eu." in f".{host}" or host.startswith("api.eu."):
        return "Kaltura SaaS, EU region"
    if host.endswith(".kaltura.com"):
        return "Kaltura SaaS"
    return "an on-prem or partner-hosted Kaltura"


def preflight(settings: Settings, services: Services) -> Iterator[Check]:
    """Each check in turn; a failure says what to do."""
    yield Check("service URL", True, f"{settings.service_url} ({region_of(settings.service_url)})")
    with _open_run(settings, services, new_run_id(services.clock())) as run:
        for secret in settings.secret_ids:
            try:
                value = services.read_secret(secret, False)
                if not isinstance(value, str):
                    raise ExportError(f"secret {secret}: the value must be a string (SecretString), not binary")
                creds = parse_secret(value, name=secret)
            except Exception as exc:
                yield Check(f"secret {secret}", False, run.redact(str(exc)))
                continue
            shape = type(creds).__name__.removesuffix("Credentials").lower()
            yield Check(f"secret {secret}", True, f"readable, {shape} credentials for partner {creds.partner_id}")
            if isinstance(creds, KsCredentials):
                yield _ks_expiry(creds.ks)
            if creds.service_url:
                yield Check(f"service URL of {secret}", True, f"{creds.service_url} ({region_of(creds.service_url)})")
            partner = run.partner(secret)
            if partner.error is not None or partner.ks is None or partner.client is None:
                error = partner.error
                code = getattr(error, "code", "ERROR")
                text = run.redact(error.message if error else "no session")
                yield Check(f"session (partner {creds.partner_id})", False, f"{code}: {text}. {_HINTS.get(code, '')}")
                continue
            yield Check(f"session (partner {creds.partner_id})", True, "started")
            window = window_containing(services.clock() - timedelta(hours=1), Period.HOURLY, ZoneInfo("UTC"))
            for report in settings.reports:
                name = f"report {report.name} ({report.id}), {window.iso_start()} + 1 h"
                params, _ = build_params(report, window.start_s, window.end_s, settings.filters)
                excluded = tuple(c for c in settings.excluded_fields if c in report.columns)
                try:
                    lines = 0
                    with partner.client.report_csv(partner.ks, report.id, params, excluded, timeout=120) as body:
                        for chunk in body:
                            lines += chunk.count(b"\n")
                    yield Check(name, True, f"answered ({max(lines - 1, 0)} rows)")
                except KalturaError as exc:
                    hint = _HINTS.get(exc.code, "")
                    yield Check(name, False, f"{exc.code}: {run.redact(exc.message)}. {hint}".rstrip(". ") + ".")
                except ExportError as exc:
                    yield Check(name, False, run.redact(str(exc)))
        yield _bucket(run.sink, settings)
    yield _topic(settings, services)


def _ks_expiry(ks: str) -> Check:
    """A v1 KS carries its expiry in clear; a v2 KS encrypts it (only Kaltura, with the admin secret, reads it)."""
    padded = ks + "=" * (-len(ks) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"))
    except (binascii.Error, ValueError):
        return Check("stored KS expiry", False, "the stored KS is not base64: store a KS, or better an app token")
    if raw.startswith(b"v2|"):
        return Check(
            "stored KS expiry",
            True,
            "unknown (a v2 KS is encrypted); a KS lasts one day by default: store an app token for a deployment",
        )
    fields = raw.partition(b"|")[2].split(b";")
    try:
        until = int(fields[2])
    except (IndexError, ValueError):
        return Check("stored KS expiry", False, "no expiry in the stored KS: store an app token instead")
    left = until - time.time()
    when = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if left <= 0:
        return Check("stored KS expiry", False, f"expired at {when}: store a new KS, or better an app token")
    return Check("stored KS expiry", True, f"valid until {when} ({left / 3600:.1f} h); an app token does not expire")


def _bucket(sink: object, settings: Settings) -> Check:
    from .sink import S3Sink

    assert isinstance(sink, S3Sink)
    key = f"{settings.prefix}/_check/preflight.json"
    try:
        sink.put_json(key, {"checked_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    except ExportError as exc:
        return Check(f"bucket {settings.bucket}", False, f"{exc}: the exporter needs s3:PutObject on {key}")
    return Check(f"bucket {settings.bucket}", True, f"writable (s3://{settings.bucket}/{key})")


def _topic(settings: Settings, services: Services) -> Check:
    if not settings.topic_arn:
        return Check("topic", True, "none configured (NOTIFY_TOPIC_ARN is empty): runs will not notify")
    try:
        services.sns().get_topic_attributes(TopicArn=settings.topic_arn)
    except (ClientError, BotoCoreError) as exc:
        return Check(f"topic {settings.topic_arn}", False, f"{exc}")
    return Check(f"topic {settings.topic_arn}", True, "exists (nothing was published)")
