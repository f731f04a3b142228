"""Redaction of secrets from any text that may reach a log, an error, a manifest or an e-mail.

Kaltura echoes the KS it rejects (``Invalid KS "<the KS>"``, ``args.KSID``, ``X-Kaltura-App``),
so every message that came from Kaltura passes through here, and so do our own messages.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# A KS is long URL-safe or standard base64 (a v2 KS starts "djJ8", base64 of "v2|") of random bytes: a run of
# 40+ such characters, many distinct, with upper and lower case letters in similar shares. S3 keys, stamps and
# secret names are as long but mostly lower case (or digits), so they stay readable.
_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{40,}={0,2}")
_KS_V2 = re.compile(r"djJ8[A-Za-z0-9+/_\-]+={0,2}")
_MIN_DISTINCT = 20
_MIN_CASE_SHARE = 0.15


def _random_looking(match: re.Match[str]) -> str:
    token = match.group()
    upper = sum(c.isupper() for c in token)
    lower = sum(c.islower() for c in token)
    floor = _MIN_CASE_SHARE * len(token)
    return REDACTED if upper >= floor and lower >= floor and len(set(token)) >= _MIN_DISTINCT else token


class Redactor:
    """Removes known secrets and anything KS-shaped from text; thread-safe."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Remember one more secret value (admin secret, app token, KS) to remove."""
        # very short values would redact ordinary words; real secrets are long
        if secret and len(secret) >= 8:
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for s in secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        text = _KS_V2.sub(REDACTED, text)
        return _TOKEN.sub(_random_looking, text)


def redact(text: str) -> str:
    """Redact KS-shaped tokens when no known secret is at hand."""
    return _TOKEN.sub(_random_looking, _KS_V2.sub(REDACTED, text))


#: the process's redactor: secrets are added as they are read, and the log filter uses it too
REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    """Redacts every log record's message, arguments and string extras before any handler formats it."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__("redact")
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = self._redact(record.msg)
        for name, value in list(record.__dict__.items()):
            if isinstance(value, str) and name not in _RECORD_FIELDS:
                record.__dict__[name] = self._redact(value)
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
        return True


_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
