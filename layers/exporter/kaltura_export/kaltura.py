"""Kaltura api_v3 client: sessions and streamed report CSVs, with every failure shape turned into a domain error.

The KS only ever travels in a POST body. Kaltura answers errors with HTTP 200 (an XML or JSON
``KalturaAPIException``, or an empty body with ``X-Kaltura`` headers), so a 200 is not a success
until the body is a CSV. Messages are redacted: Kaltura echoes the KS it rejects.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from .credentials import AdminSecretCredentials, AppTokenCredentials, Credentials, KsCredentials
from .errors import KalturaError, TransientKalturaError
from .redact import Redactor

CHUNK_SIZE = 256 * 1024
BOM = b"\xef\xbb\xbf"
#: codes worth retrying with backoff (DESIGN.md "Kaltura facts")
TRANSIENT_CODES = frozenset({"ACTION_BLOCKED", "DRUID_QUERY_TIMED_OUT", "INTERNAL_SERVERL_ERROR"})
_MAX_ERROR_BODY = 1 << 20
_XML_CODE = re.compile(rb"<code>(.*?)</code>", re.S)
_XML_MESSAGE = re.compile(rb"<message>(.*?)</message>", re.S)


def kaltura_error(code: str, message: str) -> KalturaError:
    """The domain error for a Kaltura code: transient codes are retryable."""
    if code in TRANSIENT_CODES:
        return TransientKalturaError(message, code=code)
    return KalturaError(message, code=code)


class KalturaClient:
    """One client per run, over one pooled ``requests.Session``."""

    def __init__(
        self,
        service_url: str,
        *,
        session: requests.Session,
        redactor: Redactor,
        timeout: float = 660.0,
        connect_timeout: float = 10.0,
        response_format: int = 1,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        # JSON (1) errors are the simplest to read; XML (2), Kaltura's default, is understood as well
        self._format = response_format
        self._session = session
        self._redact = redactor
        self._timeout = (connect_timeout, timeout)

    # -- sessions -------------------------------------------------------------------------------------------------

    def start_session(self, creds: Credentials) -> str:
        """A KS for these credentials: the stored one, or a new session."""
        if isinstance(creds, KsCredentials):
            self._redact.add(creds.ks)
            return creds.ks
        if isinstance(creds, AdminSecretCredentials):
            self._redact.add(creds.admin_secret)
            data: dict[str, Any] = {
                "secret": creds.admin_secret,
                "userId": creds.user_id,
                "type": 2,
                "partnerId": creds.partner_id,
                "expiry": creds.expiry,
            }
            if creds.privileges:
                data["privileges"] = creds.privileges
            result = self._call("session", "start", data)
            if not isinstance(result, str) or not result:
                raise KalturaError("session.start did not return a KS", code="UNEXPECTED_RESPONSE")
            self._redact.add(result)
            return result
        if isinstance(creds, AppTokenCredentials):
            self._redact.add(creds.app_token)
            widget = self._call("session", "startWidgetSession", {"widgetId": f"_{creds.partner_id}"})
            widget_ks = widget.get("ks") if isinstance(widget, dict) else None
            if not isinstance(widget_ks, str) or not widget_ks:
                raise KalturaError("session.startWidgetSession did not return a KS", code="UNEXPECTED_RESPONSE")
            self._redact.add(widget_ks)
            token_hash = hashlib.new(creds.hash_type.lower(), (widget_ks + creds.app_token).encode()).hexdigest()
            info = self._call(
                "appToken",
                "startSession",
                {
                    "ks": widget_ks,
                    "id": creds.app_token_id,
                    "tokenHash": token_hash,
                    "userId": creds.user_id,
                    "type": 2,
                    "expiry": creds.expiry,
                },
            )
            ks = info.get("ks") if isinstance(info, dict) else None
            if not isinstance(ks, str) or not ks:
                raise KalturaError("appToken.startSession did not return a KS", code="UNEXPECTED_RESPONSE")
            self._redact.add(ks)
            return ks
        raise TypeError(f"unknown credentials type {type(creds).__name__}")

    def _call(self, service: str, action: str, data: dict[str, Any]) -> Any:
        """A JSON (format=1) API call; returns the decoded result or raises the domain error."""
        resp = self._post(service, action, data, stream=False)
        with resp:
            self._check_status(resp, f"{service}.{action}")
            body = resp.content
        if not body:
            raise self._header_error(resp, f"{service}.{action}")
        try:
            result = json.loads(body)
        except ValueError:
            raise KalturaError(
                f"{service}.{action} answered with something that is not JSON "
                f"(Content-Type {resp.headers.get('Content-Type', '?')})",
                code="UNEXPECTED_RESPONSE",
            ) from None
        if isinstance(result, dict) and result.get("objectType") == "KalturaAPIException":
            raise kaltura_error(str(result.get("code") or "UNKNOWN"), self._message(str(result.get("message", ""))))
        return result

    # -- reports --------------------------------------------------------------------------------------------------

    @contextmanager
    def report_csv(
        self,
        ks: str,
        report_id: int,
        params: str,
        excluded_fields: tuple[str, ...] = (),
        *,
        timeout: float | None = None,
    ) -> Iterator[Iterator[bytes]]:
        """Stream one report's CSV body as byte chunks (raises the domain error if Kaltura answered one).

        ``timeout`` shortens the read timeout for this call (the invocation's remaining time)."""
        data: dict[str, Any] = {"ks": ks, "id": report_id, "params": params}
        if excluded_fields:
            data["excludedFields"] = ",".join(excluded_fields)
        what = f"report {report_id}"
        resp = self._post("report", "getCsvFromStringParams", data, stream=True, timeout=timeout)
        try:
            self._check_status(resp, what)
            chunks = self._chunks(resp, what)
            first = b""
            for first in chunks:
                if first:
                    break
            if not first:
                raise self._header_error(resp, what)
            content_type = resp.headers.get("Content-Type", "")
            if first.startswith(BOM) or content_type.startswith("text/csv"):
                yield _prepend(first, chunks)
                return
            head = first.lstrip()
            if head.startswith((b"<?xml", b"<xml", b"{")):
                raise self._body_error(first, chunks, what)
            raise KalturaError(
                f"{what}: Kaltura answered with something that is not a CSV (Content-Type {content_type or '?'})",
                code="UNEXPECTED_RESPONSE",
            )
        finally:
            resp.close()

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _post(
        self, service: str, action: str, data: dict[str, Any], *, stream: bool, timeout: float | None = None
    ) -> requests.Response:
        url = f"{self.service_url}/api_v3/service/{service}/action/{action}"
        form = {"format": self._format, "clientTag": "kaltura-export", **data}
        read = self._timeout[1] if timeout is None else min(timeout, self._timeout[1])
        try:
            return self._session.post(url, data=form, timeout=(self._timeout[0], read), stream=stream)
        except requests.Timeout:
            raise TransientKalturaError(
                f"{service}.{action}: Kaltura did not answer within {read:g} s", code="TIMEOUT"
            ) from None
        except requests.RequestException as exc:
            raise TransientKalturaError(
                f"{service}.{action}: could not reach {self.service_url} ({type(exc).__name__})",
                code="CONNECTION_ERROR",
            ) from None

    def _check_status(self, resp: requests.Response, what: str) -> None:
        if resp.status_code == 200:
            return
        message = f"{what}: HTTP {resp.status_code} from Kaltura"
        if resp.status_code >= 500 or resp.status_code == 429:
            raise TransientKalturaError(message, code="HTTP_ERROR")
        raise KalturaError(message, code="HTTP_ERROR")

    def _chunks(self, resp: requests.Response, what: str) -> Iterator[bytes]:
        try:
            yield from resp.iter_content(CHUNK_SIZE)
        except requests.exceptions.ChunkedEncodingError:
            raise TransientKalturaError(f"{what}: the body was cut short", code="TRUNCATED_BODY") from None
        except requests.Timeout:
            raise TransientKalturaError(
                f"{what}: Kaltura stopped sending before the read timeout", code="TIMEOUT"
            ) from None
        except requests.RequestException as exc:
            raise TransientKalturaError(
                f"{what}: the connection failed mid-body ({type(exc).__name__})", code="TRUNCATED_BODY"
            ) from None

    def _header_error(self, resp: requests.Response, what: str) -> KalturaError:
        marker = resp.headers.get("X-Kaltura", "")
        if marker.startswith("error-"):
            code = marker[len("error-") :].strip() or "UNKNOWN"
            app = resp.headers.get("X-Kaltura-App", "")
            detail = app.split(" - ", 1)[1] if " - " in app else app
            return kaltura_error(code, self._message(f"{what}: {detail}" if detail else what))
        # a 200 with nothing at all and no error header: a connection that ended early, not an empty report
        return TransientKalturaError(f"{what}: empty answer without Kaltura's error headers", code="TRUNCATED_BODY")

    def _body_error(self, first: bytes, rest: Iterator[bytes], what: str) -> KalturaError:
        body = bytearray(first)
        for chunk in rest:
            body += chunk
            if len(body) > _MAX_ERROR_BODY:
                break
        raw = bytes(body)
        if raw.lstrip().startswith(b"{"):
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and obj.get("objectType") == "KalturaAPIException":
                return kaltura_error(
                    str(obj.get("code") or "UNKNOWN"), self._message(f"{what}: {obj.get('message', '')}")
                )
        else:
            code = _XML_CODE.search(raw)
            if code:
                message = _XML_MESSAGE.search(raw)
                text = html.unescape(message.group(1).decode("utf-8", "replace")) if message else ""
                return kaltura_error(
                    html.unescape(code.group(1).decode("utf-8", "replace")).strip(), self._message(f"{what}: {text}")
                )
        return KalturaError(f"{what}: Kaltura answered with an unreadable error body", code="UNEXPECTED_RESPONSE")

    def _message(self, text: str) -> str:
        return self._redact(" ".join(text.split()))[:500]


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
