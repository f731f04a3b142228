"""KalturaEmulator: a real HTTP server that answers like Kaltura's api_v3 (development and tests only)."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import hashlib
import itertools
import json
import secrets
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from . import ks as kslib
from .data import University
from .faults import ERROR_KINDS, TERMINAL_KINDS, Fault, Faults
from .reports import (
    BOM,
    COLUMNS,
    ENTRY_FILTER,
    MissingParameter,
    ParamPairs,
    Query,
    RowCounter,
    csv_chunks,
    date_range,
    iter_rows,
    params_dict,
    parse_params_str,
    php_intval,
    plan_columns,
    report_filters,
    server_cells,
)
from .wire import (
    FORMAT_JSON,
    FORMAT_XML,
    ApiObject,
    KalturaError,
    die_headers,
    serialize_error,
    serialize_result,
)

MAX_KS_EXPIRY = 86400  # the partner's ks_max_expiry_in_seconds when unset
REPORT_ACTION = "report->getCsvFromStringParams"
HASH_TYPES = ("MD5", "SHA1", "SHA256", "SHA512")
_BUFFER_LIMIT = 8 * 1024 * 1024  # bodies up to this size are generated once; bigger ones twice (length, then send)
_SERVICES = ("session", "apptoken", "report", "system")
_HTTP_500_BODY = (
    b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head><title>500 Internal Server Error</title>'
    b"</head><body><h1>Internal Server Error</h1></body></html>\n"
)


@dataclass
class ReportCall:
    """One report.getCsvFromStringParams request as the emulator saw and answered it."""

    method: str
    report_id: int | None
    params: dict[str, str | None]
    excluded_fields: list[str]
    ks: str | None
    http_status: int = 200
    outcome: str = ""  # "csv", an error code, "HTTP_500", "DROP_MID_BODY" or "SHORT_BODY"
    faults: list[str] = field(default_factory=list)
    raw_params: str | None = None
    format: str | None = None
    rows: int | None = None
    bytes: int | None = None
    at: float = field(default_factory=time.time)


@dataclass
class AppToken:
    """An application token as the partner registered it."""

    token_id: str
    token: str
    hash_type: str = "SHA256"
    session_type: int = kslib.SESSION_ADMIN
    privileges: str = ""
    active: bool = True
    session_user_id: str | None = None
    session_duration: int = MAX_KS_EXPIRY
    expires_at: int | None = None


@dataclass
class ApiRequest:
    """A parsed api_v3 request: merged parameters (body < query < path pairs)."""

    method: str
    params: dict[str, str]
    uri: str
    client_ip: str
    started: float = field(default_factory=time.monotonic)

    def get(self, name: str) -> str | None:
        """A parameter, or None when absent."""
        return self.params.get(name)

    @property
    def format(self) -> str:
        """The response format asked for; XML when absent or empty."""
        return self.params.get("format") or FORMAT_XML

    @property
    def elapsed(self) -> float:
        """Seconds since the request was parsed (executionTime)."""
        return time.monotonic() - self.started


@dataclass
class Response:
    """What to send: status, headers, and a re-iterable body of known length."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    parts: Callable[[], Iterable[bytes]] = lambda: ()
    length: int = 0
    throttled: bool = False
    transport: Fault | None = None

    @classmethod
    def of(cls, body: bytes, content_type: str | None, status: int = 200, **kw: Any) -> Response:
        """A response with a small in-memory body."""
        headers = [("Content-Type", content_type)] if content_type else []
        headers += kw.pop("headers", [])
        return cls(status=status, headers=headers, parts=lambda: (body,), length=len(body), **kw)


def _measure(chunks: Iterator[bytes]) -> tuple[int, list[bytes] | None]:
    total = 0
    kept: list[bytes] | None = []
    for chunk in chunks:
        total += len(chunk)
        if kept is not None:
            kept.append(chunk)
            if total > _BUFFER_LIMIT:
                kept = None
    return total, kept


def _header_value(text: str) -> str:
    # PHP's header() sends raw bytes; http.server encodes header values as latin-1
    return text.replace("\r", "").replace("\n", "").encode("utf-8").decode("latin-1")


def csv_filename(report_id: int, partner_id: int, pairs: ParamPairs) -> str:
    """getCsvAction's file name: the params with the caller's partner_id blanked and the KS partner appended."""
    name = f"Report_{report_id}_{partner_id}"
    items = [("", "") if key.lower() == "partner_id" else (key, value or "") for key, value in pairs]
    for key, value in [*items, ("partner_id", str(partner_id))]:
        piece = f"_{key}_{value}"
        if len(name.encode()) + len(piece.encode()) >= 200:
            break
        name += piece
    return name + ".csv"


class KalturaEmulator:
    """A local, faithful-enough Kaltura api_v3 for the exporter's tests, ``make run`` and benchmarks.

    Serves session.start, session.startWidgetSession, session.end, appToken.startSession, system.ping and
    report.getCsvFromStringParams (6000/6001/6002) over real HTTP on 127.0.0.1, with synthetic data.
    """

    def __init__(
        self,
        partner_id: int = 4242,
        admin_secret: str | None = None,
        seed: int = 7,
        row_cap: int = 100_000,
        *,
        user_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.partner_id = partner_id
        self.admin_secret = admin_secret or secrets.token_hex(16)
        self.user_secret = user_secret or secrets.token_hex(16)
        self.seed = seed
        self.row_cap = row_cap
        self.latency: float = 0.0
        self.scale: int = 1
        self.faults = Faults()
        self.calls: list[ReportCall] = []
        self.issued_ks: list[str] = []
        self.university = University(seed)
        self._initial_row_cap = row_cap
        self._ttfb = 0.0
        self._bytes_per_second: float | None = None
        self._tokens: dict[str, AppToken] = {}
        self._revoked: set[str] = set()
        self._ks_uses: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()
        self._lengths: dict[tuple[Any, ...], tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Bind (port 0: any free port) and serve in a daemon thread; returns the base URL."""
        if self._server is not None:
            return self.url
        server = _Server((self._host, self._port), self)
        port = server.server_address[1]
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        self._server = server
        self._url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"kaltura-emulator-{port}", daemon=True
        )
        self._thread.start()
        return self._url

    def stop(self) -> None:
        """Stop serving and cut every open connection (pooled keep-alive ones included)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._url is None:
            raise RuntimeError("the emulator is not started")
        return self._url

    def __enter__(self) -> KalturaEmulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ knobs

    def throttle(self, ttfb: float, bytes_per_second: float | None) -> None:
        """Delay CSV responses by ``ttfb`` seconds, then cap their body at ``bytes_per_second`` (None: no cap)."""
        if ttfb < 0 or (bytes_per_second is not None and bytes_per_second <= 0):
            raise ValueError("ttfb must be >= 0 and bytes_per_second > 0 or None")
        self._ttfb, self._bytes_per_second = float(ttfb), bytes_per_second

    @property
    def throttle_settings(self) -> tuple[float, float | None]:
        """The current (ttfb, bytes_per_second)."""
        return self._ttfb, self._bytes_per_second

    def reset(self, *, calls: bool = False) -> None:
        """Back to a well-behaved server: no faults, latency, throttle; scale 1; the initial row cap."""
        self.faults.clear()
        self.latency = 0.0
        self.throttle(0.0, None)
        self.scale = 1
        self.row_cap = self._initial_row_cap
        if calls:
            with self._lock:
                self.calls.clear()

    # ------------------------------------------------------------------ credentials

    def add_app_token(
        self,
        token_id: str,
        token: str,
        hash_type: str = "SHA256",
        session_type: int = kslib.SESSION_ADMIN,
        privileges: str = "",
        active: bool = True,
        *,
        session_user_id: str | None = None,
        session_duration: int = MAX_KS_EXPIRY,
        expires_at: int | None = None,
    ) -> None:
        """Register an application token of this partner (``expires_at``: absolute Unix time, or None)."""
        if hash_type.upper() not in HASH_TYPES:
            raise ValueError(f"hash_type must be one of {HASH_TYPES}")
        self._tokens[token_id] = AppToken(
            token_id, token, hash_type.upper(), session_type, privileges, active, session_user_id, session_duration,
            expires_at,
        )  # fmt: skip

    def mint_ks(
        self, *, session_type: int = kslib.SESSION_ADMIN, user_id: str = "", expiry: int = 86400, privileges: str = ""
    ) -> str:
        """A v2 KS signed with the admin secret, valid for ``expiry`` seconds (negative: already expired)."""
        return self._issue(session_type, user_id, expiry, privileges)[0]

    def revoke(self, ks: str) -> None:
        """Invalidate a KS, as session.end does: later use gives INVALID_KS "LOGOUT"."""
        with self._lock:
            self._revoked.add(ks.strip().rstrip("="))

    def decode_ks(self, ks: str) -> kslib.KsInfo:
        """Decode and verify a KS issued for this partner (KsDecodeError if forged or garbled)."""
        return kslib.decode(ks, self._secret_for)

    def _issue(self, session_type: int, user_id: str, expiry: int, privileges: str) -> tuple[str, int]:
        expires_at = int(time.time()) + expiry
        ks = kslib.mint_v2(self.admin_secret, self.partner_id, session_type, user_id, expires_at, privileges)
        with self._lock:
            self.issued_ks.append(ks)
        return ks, expires_at

    def _secret_for(self, partner_id: int) -> str | None:
        return self.admin_secret if partner_id == self.partner_id else None

    # ------------------------------------------------------------------ data oracles

    def columns(self, report_id: int) -> list[str]:
        """The columns of a report, in order."""
        return list(COLUMNS[report_id])

    def rows_for(
        self, report_id: int, from_s: int, to_s: int, filters: dict[str, list[str]] | None = None
    ) -> list[list[str]]:
        """The rows the server would send for this window and filters (before the row cap), cell by cell.

        Cells are exactly as on the wire: names pre-quoted, commas inside values already turned into spaces.
        ``filters`` uses the report's own keys (``entry_ids``, ``parentEntryIds``, ...); others are ignored.
        """
        if report_id not in COLUMNS:
            raise ValueError(f"unknown report {report_id}")
        wanted = {k: list(v) for k, v in (filters or {}).items() if v}
        query = Query(report_id, from_s, to_s, wanted, self.scale)
        return [server_cells(row) for row in iter_rows(self.university, query)]

    def room_ids(self, from_s: int, to_s: int) -> list[str]:
        """Main-room entry ids with a session starting in [from_s, to_s), sorted."""
        return sorted({row[0] for row in self.rows_for(6000, from_s, to_s) if not row[2]})

    # ------------------------------------------------------------------ state and control

    def state(self) -> dict[str, Any]:
        """Counts of what the emulator has served, and its current knobs."""
        with self._lock:
            calls = list(self.calls)
            requests = dict(self._requests)
            issued = len(self.issued_ks)
        return {
            "url": self._url,
            "partner_id": self.partner_id,
            "calls": len(calls),
            "calls_by_report": dict(Counter(str(c.report_id) for c in calls)),
            "outcomes": dict(Counter(c.outcome for c in calls)),
            "rows": sum(c.rows or 0 for c in calls),
            "bytes": sum(c.bytes or 0 for c in calls),
            "requests": requests,
            "issued_ks": issued,
            "latency": self.latency,
            "throttle": {"ttfb": self._ttfb, "bytes_per_second": self._bytes_per_second},
            "scale": self.scale,
            "row_cap": self.row_cap,
            "faults": [f.to_dict() for f in self.faults.pending()],
        }

    def control(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply a control document (see the package docstring); returns the state, plus ``ks`` when minted."""
        known = {"clear", "reset_calls", "latency", "throttle", "scale", "row_cap", "fault", "faults", "app_token",
                 "revoke", "mint_ks"}  # fmt: skip
        unknown = set(payload) - known
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        extra: dict[str, Any] = {}
        if payload.get("clear"):
            self.reset()
        if payload.get("reset_calls"):
            with self._lock:
                self.calls.clear()
        if "latency" in payload:
            self.latency = float(payload["latency"])
        if "throttle" in payload:
            spec = payload["throttle"] or {}
            bps = spec.get("bytes_per_second")
            self.throttle(float(spec.get("ttfb", 0.0)), None if bps is None else float(bps))
        if "scale" in payload:
            scale = int(payload["scale"])
            if scale < 1:
                raise ValueError("scale must be >= 1")
            self.scale = scale
        if "row_cap" in payload:
            self.row_cap = int(payload["row_cap"])
        specs = payload.get("faults") or []
        if payload.get("fault"):
            specs = [payload["fault"], *specs]
        for spec in specs:
            options = dict(spec)
            kind = options.pop("kind")
            options.update(options.pop("options", None) or {})  # Fault.to_dict() is flat; accept nested too
            options.pop("hits", None)
            if isinstance(options.get("report_id"), str):
                options["report_id"] = int(options["report_id"])
            self.faults.add(kind, **options)
        if payload.get("app_token"):
            self.add_app_token(**payload["app_token"])
        if payload.get("revoke"):
            self.revoke(str(payload["revoke"]))
        if "mint_ks" in payload:
            extra["ks"] = self.mint_ks(**(payload["mint_ks"] or {}))
        return {**self.state(), **extra}

    # ------------------------------------------------------------------ api_v3

    def handle(self, req: ApiRequest) -> Response:
        """Answer one api_v3 request."""
        service_name, action_name = req.get("service") or "", req.get("action") or ""
        service, action = service_name.lower(), action_name.lower()
        with self._lock:
            self._requests[f"{service}.{action}"] += 1
        if (service, action) == ("report", "getcsvfromstringparams"):
            return self._report(req)
        handlers: dict[tuple[str, str], Callable[[ApiRequest, kslib.KsInfo | None], Any]] = {
            ("session", "start"): self._session_start,
            ("session", "startwidgetsession"): self._session_start_widget,
            ("session", "end"): self._session_end,
            ("apptoken", "startsession"): self._app_token_start,
            ("system", "ping"): lambda _req, _ks: True,
        }
        try:
            if not service_name:
                raise KalturaError("SERVICE_NOT_SPECIFIED")
            if service not in _SERVICES:
                raise KalturaError("SERVICE_DOES_NOT_EXISTS", service_name)
            if not action_name:
                raise KalturaError("ACTION_NOT_SPECIFIED")
            handler = handlers.get((service, action))
            if handler is None:
                raise KalturaError("ACTION_DOES_NOT_EXISTS", action_name, service_name)
            return self._result(handler(req, self._request_ks(req)), req)
        except KalturaError as error:
            return self._error(error, req)

    def _result(self, value: Any, req: ApiRequest) -> Response:
        if req.format not in (FORMAT_JSON, FORMAT_XML):
            return self._die(KalturaError("UNKNOWN_RESPONSE_FORMAT", req.format))
        body, content_type = serialize_result(value, req.format, req.elapsed)
        return Response.of(body, content_type)

    def _error(self, error: KalturaError, req: ApiRequest) -> Response:
        if req.format not in (FORMAT_JSON, FORMAT_XML):
            return self._die(KalturaError("UNKNOWN_RESPONSE_FORMAT", req.format))
        body, content_type = serialize_error(error, req.format, req.elapsed)
        return Response.of(body, content_type)

    @staticmethod
    def _die(error: KalturaError) -> Response:
        # kRendererDieError: HTTP 200, no body, the error only in X-Kaltura headers
        headers = [(k, _header_value(v)) for k, v in die_headers(error)]
        return Response.of(b"", "text/html; charset=UTF-8", headers=headers)

    def _request_ks(self, req: ApiRequest) -> kslib.KsInfo | None:
        ks = req.get("ks")
        return self._validate_ks(ks, req) if ks else None

    def _validate_ks(self, ks: str, req: ApiRequest) -> kslib.KsInfo:
        def invalid(reason: str) -> KalturaError:
            return KalturaError("INVALID_KS", reason, -1, "INVALID_STR")

        try:
            info = kslib.decode(ks, self._secret_for)
        except kslib.KsDecodeError:
            raise invalid(ks) from None  # the real server echoes the KS itself
        if info.expiry <= time.time():
            raise invalid("EXPIRED")
        with self._lock:
            if ks.strip().rstrip("=") in self._revoked:
                raise invalid("LOGOUT")
        limit = info.privilege("actionslimit")
        if limit is not None:
            with self._lock:
                self._ks_uses[ks] += 1
                used = self._ks_uses[ks]
            if used > php_intval(limit):
                raise invalid("EXCEEDED_ACTIONS_LIMIT")
        allowed_ip = info.privilege("iprestrict")
        if allowed_ip and req.client_ip not in allowed_ip.split("/"):
            raise invalid("EXCEEDED_RESTRICTED_IP")
        uri = info.privilege("urirestrict")
        if uri and not (req.uri.startswith(uri[:-1]) if uri.endswith("*") else req.uri == uri):
            raise invalid("EXCEEDED_RESTRICTED_URI")
        return info

    @staticmethod
    def _expiry(raw: str | None) -> int:
        if raw is None or raw == "":
            return MAX_KS_EXPIRY
        return min(php_intval(raw), MAX_KS_EXPIRY)

    def _session_start(self, req: ApiRequest, _ks: kslib.KsInfo | None) -> str:
        secret = req.get("secret")
        if secret is None:
            raise KalturaError("MISSING_MANDATORY_PARAMETER", "secret")
        type_raw = req.get("type") or "0"
        if type_raw.strip() not in ("0", "2"):
            raise KalturaError("INVALID_ENUM_VALUE", type_raw, "type", "KalturaSessionType")
        session_type = int(type_raw)
        partner_raw = req.get("partnerId") or ""
        secret_ok = secret == self.admin_secret or (session_type == kslib.SESSION_USER and secret == self.user_secret)
        if php_intval(partner_raw) != self.partner_id or not secret_ok:
            raise KalturaError("START_SESSION_ERROR", partner_raw)
        expiry = self._expiry(req.get("expiry"))
        return self._issue(session_type, req.get("userId") or "", expiry, req.get("privileges") or "")[0]

    def _session_start_widget(self, req: ApiRequest, _ks: kslib.KsInfo | None) -> ApiObject:
        widget = req.get("widgetId")
        if widget is None:
            raise KalturaError("MISSING_MANDATORY_PARAMETER", "widgetId")
        if widget != f"_{self.partner_id}":
            raise KalturaError("INVALID_WIDGET_ID", widget)
        ks, _ = self._issue(kslib.SESSION_USER, "0", self._expiry(req.get("expiry")), "widget:1,view:*")
        return ApiObject(
            "KalturaStartWidgetSessionResponse", [("partnerId", self.partner_id), ("ks", ks), ("userId", "0")]
        )

    def _session_end(self, req: ApiRequest, ks: kslib.KsInfo | None) -> None:
        ks_string = req.get("ks")
        if ks is None or not ks_string:
            raise KalturaError("MISSING_KS")
        self.revoke(ks_string)

    def _app_token_start(self, req: ApiRequest, ks: kslib.KsInfo | None) -> ApiObject:
        ks_string = req.get("ks") or ""
        if ks is None:
            raise KalturaError("MISSING_KS")
        token_id = req.get("id")
        if token_id is None:
            raise KalturaError("MISSING_MANDATORY_PARAMETER", "id")
        token_hash = req.get("tokenHash")
        if token_hash is None:
            raise KalturaError("MISSING_MANDATORY_PARAMETER", "tokenHash")
        token = self._tokens.get(token_id)
        if token is None or ks.partner_id != self.partner_id:
            raise KalturaError("APP_TOKEN_ID_NOT_FOUND", token_id)
        if not token.active:
            raise KalturaError("APP_TOKEN_NOT_ACTIVE", token_id)
        # AppToken::calcHash: the token's hash of the caller's KS string followed by the token
        if token_hash != hashlib.new(token.hash_type.lower(), (ks_string + token.token).encode()).hexdigest():
            raise KalturaError("INVALID_APP_TOKEN_HASH")
        token_expiry = token.session_duration
        if token.expires_at is not None:
            token_expiry = min(token_expiry, token.expires_at - int(time.time()))
            if token_expiry < 0:
                raise KalturaError("APP_TOKEN_EXPIRED", token_id)
        expiry = min(php_intval(req.get("expiry")) or token_expiry, token_expiry)
        user_id = token.session_user_id if token.session_user_id is not None else req.get("userId")
        privileges: dict[str, list[str]] = {"sessionid": [token_id], "apptoken": [token_id]}
        for name, values in kslib.parse_privileges(token.privileges).items():
            privileges.setdefault(name, []).extend(values)
        for name, values in kslib.parse_privileges(req.get("sessionPrivileges") or "").items():
            privileges.setdefault(name, values)  # a privilege the token already sets is not overridden
        privileges_string = kslib.build_privileges(privileges)
        new_ks, expires_at = self._issue(token.session_type, user_id or "", expiry, privileges_string)
        return ApiObject(
            "KalturaSessionInfo",
            [
                ("ks", new_ks),
                ("sessionType", token.session_type),
                ("partnerId", self.partner_id),
                ("userId", user_id),
                ("expiry", expires_at),
                ("privileges", privileges_string),
            ],
        )

    # ------------------------------------------------------------------ report.getCsvFromStringParams

    def _report(self, req: ApiRequest) -> Response:
        if self.latency > 0:
            time.sleep(self.latency)
        raw_params = req.get("params")
        pairs = parse_params_str(raw_params)
        excluded = req.get("excludedFields") or ""
        call = ReportCall(
            method=req.method,
            report_id=None,
            params=params_dict(pairs),
            excluded_fields=excluded.split(",") if excluded else [],
            ks=req.get("ks"),
            raw_params=raw_params,
            format=req.get("format"),
        )
        try:
            response = self._report_response(req, call, pairs)
        except KalturaError as error:
            call.outcome = error.code
            response = self._error(error, req)
        call.http_status = response.status
        if call.bytes is None:
            call.bytes = response.length
        with self._lock:
            self.calls.append(call)
        return response

    def _report_response(self, req: ApiRequest, call: ReportCall, pairs: ParamPairs) -> Response:
        ks_string = req.get("ks")
        if not ks_string:
            raise KalturaError("MISSING_KS")
        info = self._validate_ks(ks_string, req)
        if info.session_type != kslib.SESSION_ADMIN:
            raise KalturaError("SERVICE_FORBIDDEN", REPORT_ACTION)
        id_raw = req.get("id")
        if id_raw is None:
            raise KalturaError("MISSING_MANDATORY_PARAMETER", "id")
        report_id = call.report_id = php_intval(id_raw)  # the bigint cast: "abc" is 0

        faults = self.faults.take(report_id)
        call.faults = [f.kind for f in faults]
        for fault in faults:
            if fault.kind == "SLOW":
                time.sleep(float(fault.options["seconds"]))
        terminal = next((f for f in faults if f.kind in TERMINAL_KINDS), None)
        kind = terminal.kind if terminal is not None else ""
        if kind == "INVALID_KS":
            raise KalturaError("INVALID_KS", req.get("ks") or "", -1, "INVALID_STR")
        if kind in ERROR_KINDS:
            raise self._fault_error(kind)
        if kind == "HTTP_500":
            call.outcome = "HTTP_500"
            return Response.of(_HTTP_500_BODY, "text/html; charset=iso-8859-1", status=500)
        if kind == "REPORT_NOT_FOUND" or report_id not in COLUMNS:
            call.outcome = "REPORT_NOT_FOUND"
            return self._die(KalturaError("REPORT_NOT_FOUND", report_id))
        filename = csv_filename(report_id, self.partner_id, pairs)
        headers = [
            ("Content-Type", "text/csv"),
            ("Content-Disposition", _header_value(f'attachment; filename="{filename}"')),
            ("Access-Control-Allow-Origin", "*"),
        ]
        if kind == "EMPTY_NO_HEADER":
            call.outcome, call.rows = "csv", 0
            return Response.of(BOM + b"\n", None, headers=headers, throttled=True)

        params = params_dict(pairs)
        try:
            from_s, to_s = date_range(report_id, params)
        except MissingParameter:
            raise KalturaError("INTERNAL_SERVERL_ERROR") from None
        filters = report_filters(report_id, params)
        if any(f.kind == "IGNORE_FILTER" for f in faults):
            filters.pop(ENTRY_FILTER[report_id], None)
        cap = self.row_cap
        limit = php_intval(params.get("limit"))
        if limit > 0:
            cap = min(cap, limit)
        added = [f for f in faults if f.kind == "ADD_COLUMN"]
        plan = plan_columns(
            COLUMNS[report_id],
            add=[(str(f.options["name"]), str(f.options["value"]), f.options["position"]) for f in added],
            drop=[str(f.options["name"]) for f in faults if f.kind == "DROP_COLUMN"],
            excluded=call.excluded_fields,
        )
        query = Query(report_id, from_s, to_s, filters, self.scale)

        def body(counter: RowCounter | None = None) -> Iterator[bytes]:
            return csv_chunks(plan, itertools.islice(iter_rows(self.university, query), max(cap, 0)), counter)

        # the body is a pure function of these, so a repeated request can skip the measuring pass
        cache_key = (query.report_id, from_s, to_s, tuple(sorted((k, tuple(v)) for k, v in filters.items())),
                     query.scale, plan, cap)  # fmt: skip
        with self._lock:
            known = self._lengths.get(cache_key)
        if known is not None:
            length, rows = known
            kept = None
        else:
            counter = RowCounter()
            length, kept = _measure(body(counter))
            rows = counter.rows
            with self._lock:
                if len(self._lengths) > 1024:
                    self._lengths.clear()
                self._lengths[cache_key] = (length, rows)
        transport = next((f for f in faults if f.kind in ("DROP_MID_BODY", "SHORT_BODY")), None)
        call.rows, call.bytes = rows, length
        call.outcome = transport.kind if transport is not None else "csv"
        return Response(
            headers=headers,
            parts=(lambda: kept) if kept is not None else body,
            length=length,
            throttled=True,
            transport=transport,
        )

    @staticmethod
    def _fault_error(kind: str) -> KalturaError:
        if kind == "ACTION_BLOCKED":
            return KalturaError(kind, "getCsvFromStringParams", "report")
        if kind == "SERVICE_FORBIDDEN":
            return KalturaError(kind, REPORT_ACTION)
        return KalturaError(kind)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: KalturaEmulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(sock)

    def close_connections(self) -> None:
        # idle keep-alive connections would otherwise keep being served after stop()
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _path_params(path: str) -> dict[str, str] | None:
    """Path pairs of an api_v3 URL (``/service/report/action/x/id/6000``), or None when not an api_v3 path."""
    if path in ("/api_v3", "/api_v3/", "/api_v3/index.php", "/api_v3/index.php/"):
        return {}
    if not path.startswith("/api_v3/"):
        return None
    rest = path[len("/api_v3/") :]
    if rest.startswith("index.php/"):
        rest = rest[len("index.php/") :]
    elif not rest.startswith("service/"):
        return None
    segments = rest.split("/")
    params: dict[str, str] = {}
    for i in range(0, len(segments), 2):
        key = unquote(segments[i])
        if not key:
            break
        # infraRequestUtils keeps the first occurrence of a path key
        params.setdefault(key, unquote(segments[i + 1]) if i + 1 < len(segments) else "")
    return params


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    # nested JSON objects become "a:b" keys, the colon notation KalturaRequestDeserializer groups on
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}:{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}:{index}", out)
    elif value is None:
        return
    elif isinstance(value, bool):
        out[prefix] = "1" if value else "0"
    else:
        out[prefix] = str(value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache"

    def version_string(self) -> str:
        """The Server header: no Python version."""
        return self.server_version

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        self._server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # request lines carry KSs (path pairs, query strings): never print them
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_OPTIONS(self) -> None:
        self._read_body()
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST, GET, HEAD, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Origin, X-Requested-With, Content-Type, Accept, Range")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _body_params(self, body: bytes) -> dict[str, str]:
        content_type = self.headers.get("Content-Type", "")
        main_type = content_type.split(";")[0].strip().lower()
        params: dict[str, str] = {}
        if not body:
            return params
        if content_type.strip().lower() == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError:
                return params
            if isinstance(decoded, dict):
                _flatten(decoded, "", params)
        elif main_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif main_type == "multipart/form-data":
            head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
            message: Any = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            if message.is_multipart():
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    payload = part.get_payload(decode=True) or b""
                    if not name or part.get_filename():
                        continue
                    text = payload.decode("utf-8", "replace")
                    if name == "json":
                        with contextlib.suppress(ValueError):
                            _flatten(json.loads(text), "", params)
                    else:
                        params[str(name)] = text
        return params

    def _serve(self, head: bool = False) -> None:
        headers_sent = False
        try:
            body = self._read_body()
            split = urlsplit(self.path)
            if split.path.startswith("/_emulator/"):
                self._control(split.path, body)
                return
            path_params = _path_params(split.path)
            if path_params is None:
                self._send_plain(404, "Not Found\n")
                return
            params = self._body_params(body)
            params.update(parse_qsl(split.query, keep_blank_values=True))
            params.update(path_params)
            request = ApiRequest(self.command, params, self.path, self.client_address[0])
            response = self._server.emulator.handle(request)
            headers_sent = True
            self._send(response, head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            if not headers_sent:
                self._send_plain(500, "kaltura emulator error\n")

    def _send_plain(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send(self, response: Response, head: bool) -> None:
        emulator = self._server.emulator
        ttfb, bytes_per_second = emulator.throttle_settings if response.throttled else (0.0, None)
        declared = limit = response.length
        transport = response.transport
        if transport is not None and transport.kind == "DROP_MID_BODY":
            limit = int(response.length * float(transport.options["fraction"]))
        elif transport is not None and transport.kind == "SHORT_BODY":
            declared = response.length + int(transport.options["missing"])
        if ttfb > 0:
            time.sleep(ttfb)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if not any(name.lower() == "access-control-allow-origin" for name, _ in response.headers):
            self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        if not head:
            self._write_body(response.parts(), limit, bytes_per_second)
        if transport is not None:
            self.wfile.flush()
            self.close_connection = True

    def _write_body(self, parts: Iterable[bytes], limit: int, bytes_per_second: float | None) -> None:
        sent = 0
        began = time.monotonic()
        step = max(1024, int(bytes_per_second / 20)) if bytes_per_second else 0
        for chunk in parts:
            if sent >= limit:
                break
            piece = chunk[: limit - sent]
            if not bytes_per_second:
                self.wfile.write(piece)
                sent += len(piece)
                continue
            for offset in range(0, len(piece), step):
                part = piece[offset : offset + step]
                self.wfile.write(part)
                sent += len(part)
                ahead = began + sent / bytes_per_second - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)

    def _control(self, path: str, body: bytes) -> None:
        emulator = self._server.emulator
        try:
            if path == "/_emulator/state" and self.command in ("GET", "HEAD"):
                result = emulator.state()
            elif path == "/_emulator/control" and self.command == "POST":
                payload = json.loads(body or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("the control document must be a JSON object")
                result = emulator.control(payload)
            else:
                self._send_plain(404, json.dumps({"error": "not found"}), "application/json")
                return
        except (ValueError, TypeError, KeyError) as exc:
            self._send_plain(400, json.dumps({"error": str(exc)}), "application/json")
            return
        self._send_plain(200, json.dumps(result), "application/json")
