"""One partner's Kaltura session: read the secret, start a session, and refresh it once when Kaltura rejects it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from aws_lambda_powertools import Logger

from .credentials import Credentials, KsCredentials, parse_secret
from .errors import ExportError, KalturaError, SecretError
from .kaltura import KalturaClient
from .redact import Redactor
from .retries import Attempts
from .settings import normalise_service_url

logger = Logger(child=True)

#: (secret name or ARN, bypass the cache) -> the secret's value (bytes when it is a SecretBinary)
ReadSecret = Callable[[str, bool], str | bytes]
#: service URL -> a client for it
ClientFactory = Callable[[str], KalturaClient]


class PartnerSession:
    """The KS every unit of one partner uses; thread-safe, refreshed at most once per rejected KS."""

    def __init__(
        self,
        secret: str,
        *,
        read_secret: ReadSecret,
        client_for: ClientFactory,
        default_service_url: str,
        redactor: Redactor,
        attempts: Callable[[], Attempts],
    ) -> None:
        self.secret = secret
        self._read_secret = read_secret
        self._client_for = client_for
        self._default_url = default_service_url
        self._redact = redactor
        self._attempts = attempts
        self._lock = threading.Lock()
        self.partner_id: int | None = None
        self.client: KalturaClient | None = None
        self.ks: str | None = None
        self.error: ExportError | None = None
        #: calls made to start the current session (reported as the attempts of units that could not start)
        self.attempts = 0
        self._creds: Credentials | None = None

    def open(self) -> PartnerSession:
        """Read the secret and start a session; a failure is kept in ``error`` and fails only this partner."""
        try:
            self._start(force=False)
            logger.info("session started", extra={"partner_id": self.partner_id, "secret": self.secret})
        except ExportError as exc:
            self.error = exc
            logger.error(
                "partner unavailable",
                extra={"secret": self.secret, "error_code": exc.code, "error": self._redact(exc.message)},
            )
        return self

    def refresh(self, rejected_ks: str) -> str:
        """A new KS after Kaltura rejected ``rejected_ks``: the secret is re-read bypassing the cache (it may
        have been rotated) and a new session started. Units that hit the same rejection share one refresh."""
        with self._lock:
            if self.ks is not None and self.ks != rejected_ks:
                return self.ks
            previous = self._creds
            self._start(force=True)
            if isinstance(self._creds, KsCredentials) and self._creds == previous:
                raise self.rejected("the stored KS was rejected and the secret still holds the same KS")
            logger.info("session refreshed", extra={"partner_id": self.partner_id, "secret": self.secret})
            assert self.ks is not None
            return self.ks

    def rejected(self, detail: str) -> KalturaError:
        """The error a unit ends with when Kaltura keeps rejecting this partner's credentials."""
        return KalturaError(f"credentials rejected: check secret {self.secret} ({detail})", code="INVALID_KS")

    def _start(self, *, force: bool) -> None:
        creds = self._read(force)
        self._creds = creds
        self.partner_id = creds.partner_id
        if self.client is None or creds.service_url:
            url = normalise_service_url(creds.service_url) if creds.service_url else self._default_url
            self.client = self._client_for(url)
        client = self.client
        attempts = self._attempts()
        try:
            self.ks = attempts(lambda: client.start_session(creds))
        finally:
            self.attempts = attempts.count

    def _read(self, force: bool) -> Credentials:
        try:
            value = self._read_secret(self.secret, force)
        except ExportError:
            raise
        except Exception as exc:
            raise SecretError(f"secret {self.secret} could not be read: {self._redact(str(exc))[:300]}") from None
        if not isinstance(value, str):
            raise SecretError(f"secret {self.secret}: the value must be a string (SecretString), not binary")
        # the raw value may itself be a KS or hold one: remember it before anything can echo it
        self._redact.add(value.strip())
        creds = parse_secret(value, name=self.secret)
        for attr in ("ks", "admin_secret", "app_token"):
            self._redact.add(getattr(creds, attr, None))
        return creds
