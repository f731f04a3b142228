"""Domain exceptions: every failure the exporter reports carries a code and a clear message.

Messages never contain a secret: anything that came from Kaltura passes through
``redact`` before it reaches one of these.
"""

from __future__ import annotations


class ExportError(Exception):
    """Base of every error the exporter raises on purpose."""

    code = "EXPORT_ERROR"
    #: a short hint for the administrator reading the e-mail
    action = "see the function's logs for details"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(ExportError):
    """A setting (environment variable or CLI flag) is missing or malformed."""

    code = "CONFIG_ERROR"
    action = "fix the function's configuration (environment variables)"


class EventError(ExportError):
    """The invocation event does not have a shape the exporter accepts."""

    code = "INVALID_EVENT"
    action = "fix the event: see events/ for valid samples"


class SecretError(ExportError):
    """The Kaltura secret could not be read or does not hold a known credentials shape."""

    code = "SECRET_ERROR"
    action = "check the secret's value and the function's permission to read it"


class FilterError(ExportError):
    """A filter value cannot be sent to Kaltura (``;`` inside, empty item...)."""

    code = "INVALID_FILTER"
    action = "fix the filter setting"


class KalturaError(ExportError):
    """Kaltura answered with an error (HTTP 200 error body, empty body with headers, 5xx...)."""

    code = "KALTURA_ERROR"

    def __init__(self, message: str, *, code: str, retryable: bool = False) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        self.action = KALTURA_ACTIONS.get(code, "check Kaltura's status and retry later")


class TransientKalturaError(KalturaError):
    """A fault worth retrying: HTTP 5xx, connection error, body cut short, throttling."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code, retryable=True)


class SchemaError(ExportError):
    """The CSV Kaltura returned cannot be mapped to the catalogue's columns."""

    code = "SCHEMA_ERROR"
    action = "Kaltura changed the report's columns: update the catalogue"


class RowCapError(ExportError):
    """A result reached ROW_CAP: Kaltura silently dropped the rest, so it is incomplete."""

    code = "ROW_CAP_REACHED"
    action = "narrow the window (shorter PERIOD) or filter by ENTRY_IDS; nothing was landed"

    def __init__(self, message: str, *, keys: set[str] | None = None) -> None:
        super().__init__(message)
        #: the rooms seen in the capped rows, when the caller asked for them
        self.keys: set[str] = keys or set()


class OutOfTimeError(ExportError):
    """The invocation's remaining time cannot fit another attempt; the unit stops before writing anything."""

    code = "OUT_OF_TIME"
    action = "raise the function's timeout, lower LOOKBACK, or backfill long ranges with the CLI or Step Functions"


class SinkError(ExportError):
    """Writing to S3 failed; the upload was aborted and any earlier object is untouched."""

    code = "S3_ERROR"
    action = "check the bucket, its policy and the function's permissions"


KALTURA_ACTIONS: dict[str, str] = {
    "INVALID_KS": ("credentials rejected: check the secret (KS expired or revoked, wrong admin secret or app token)"),
    "MISSING_KS": "credentials missing: check the secret",
    "SERVICE_FORBIDDEN": (
        "the session lacks the ANALYTICS_BASE permission: ask Kaltura to enable analytics for the partner or role"
    ),
    "REPORT_NOT_FOUND": (
        "the report id is not enabled for this partner: ask Kaltura to enable the Virtual Classroom reports"
    ),
    "START_SESSION_ERROR": "Kaltura refused to start a session: check partner_id and admin_secret in the secret",
    "APP_TOKEN_ID_NOT_FOUND": "the app token does not exist: check app_token_id in the secret",
    "APP_TOKEN_NOT_ACTIVE": "the app token was disabled: create a new one and update the secret",
    "APP_TOKEN_EXPIRED": "the app token expired: create a new one and update the secret",
    "INVALID_APP_TOKEN_HASH": "the app token hash was rejected: check app_token and hash_type in the secret",
    "SEARCH_TOO_GENERAL": "the query is too broad: use a shorter PERIOD or filters",
    "MISSING_MANDATORY_PARAMETER": "Kaltura says a parameter is missing: report this as a bug",
    "ACTION_BLOCKED": "Kaltura is throttling this account: lower MAX_CONCURRENCY or run at a quieter time",
    "DRUID_QUERY_TIMED_OUT": "Kaltura's analytics query timed out: retry later or use a shorter PERIOD",
    "INTERNAL_SERVERL_ERROR": "Kaltura failed internally: retry later; if it persists, contact Kaltura support",
    "HTTP_ERROR": "Kaltura's service failed: retry later",
    "CONNECTION_ERROR": "could not reach Kaltura: check KALTURA_SERVICE_URL and the network",
    "TRUNCATED_BODY": "Kaltura's answer was cut short: retry later",
    "TIMEOUT": "Kaltura did not answer in time: raise KALTURA_TIMEOUT or use a shorter PERIOD",
    "UNEXPECTED_RESPONSE": "Kaltura answered with something that is not a CSV: check KALTURA_SERVICE_URL",
}
