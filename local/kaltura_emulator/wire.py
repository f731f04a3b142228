"""api_v3 response serialization (XML ``format=2``, JSON ``format=1``) and the KalturaAPIException catalogue."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FORMAT_JSON = "1"
FORMAT_XML = "2"

# code -> (argument names, message template); the exact strings of KalturaErrors.php / APIErrors.class.php
ERRORS: dict[str, tuple[tuple[str, ...], str]] = {
    "MISSING_KS": ((), "Missing KS, session not established"),
    "INVALID_KS": (("KSID", "ERR_CODE", "ERR_DESC"), 'Invalid KS "@KSID@", Error "@ERR_CODE@,@ERR_DESC@"'),
    "SERVICE_FORBIDDEN": (("SERVICE",), "The access to service [@SERVICE@] is forbidden"),
    "SERVICE_NOT_SPECIFIED": ((), "Service name was not specified, please specify one"),
    "SERVICE_DOES_NOT_EXISTS": (("SRV_NAME",), 'Service "@SRV_NAME@" does not exists'),
    "ACTION_NOT_SPECIFIED": ((), "Action name was not specified, please specify one"),
    "ACTION_DOES_NOT_EXISTS": (
        ("ACTION_NAME", "SERVICE_NAME"),
        'Action "@ACTION_NAME@" does not exists for service "@SERVICE_NAME@"',
    ),
    "ACTION_BLOCKED": (
        ("ACTION_NAME", "SERVICE_NAME"),
        'Action "@ACTION_NAME@" in service "@SERVICE_NAME@" is blocked',
    ),
    "MISSING_MANDATORY_PARAMETER": (("PARAM_NAME",), 'Missing parameter "@PARAM_NAME@"'),
    "INVALID_ENUM_VALUE": (
        ("ENUM_VAL", "PARAM_NAME", "ENUM_TYPE"),
        'Invalid enumeration value "@ENUM_VAL@" for parameter "@PARAM_NAME@", expecting enumeration type "@ENUM_TYPE@"',
    ),
    "INTERNAL_SERVERL_ERROR": ((), "Internal server error occurred"),
    "SEARCH_TOO_GENERAL": ((), "Unable to create report. Query produced too many results"),
    "DRUID_QUERY_TIMED_OUT": ((), "Query timed out"),
    "REPORT_NOT_FOUND": (("ID",), 'Report id "@ID@" not found'),
    "START_SESSION_ERROR": (("PID",), "Error while starting session for partner [@PID@]"),
    "INVALID_WIDGET_ID": (("WIDGET_ID",), "Unknown widget [@WIDGET_ID@]"),
    "APP_TOKEN_ID_NOT_FOUND": (("ID",), 'Application token id "@ID@" not found'),
    "APP_TOKEN_NOT_ACTIVE": (("ID",), 'Application token id "@ID@" not active'),
    "APP_TOKEN_EXPIRED": (("ID",), 'Application token id "@ID@" expired'),
    "INVALID_APP_TOKEN_HASH": ((), "Invalid application token hash"),
    "UNKNOWN_RESPONSE_FORMAT": (("FORMAT",), "Response format provided [@FORMAT@] is not recognized by server"),
}


class KalturaError(Exception):
    """A KalturaAPIException: ``code`` plus the values of its named arguments, in catalogue order."""

    def __init__(self, code: str, *values: object) -> None:
        names, template = ERRORS[code]
        if len(values) != len(names):
            raise TypeError(f"{code} takes {len(names)} argument(s), got {len(values)}")
        self.code = code
        self.named_args: list[tuple[str, str]] = [(n, str(v)) for n, v in zip(names, values, strict=True)]
        message = template
        for name, value in self.named_args:
            message = message.replace(f"@{name}@", value)
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class ApiObject:
    """A typed API object (``objectType`` plus properties in class declaration order)."""

    object_type: str
    properties: list[tuple[str, Any]] = field(default_factory=list)


def xml_encode(text: str) -> str:
    """kString::xmlEncode."""
    return (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
    )


def _xml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, ApiObject):
        inner = f"<objectType>{value.object_type}</objectType>"
        for name, prop in value.properties:
            if prop is not None:
                inner += f"<{name}>{_xml_value(prop)}</{name}>"
        return inner
    return xml_encode(str(value))


def _xml_error(error: KalturaError) -> str:
    args = "".join(
        "<item><objectType>KalturaApiExceptionArg</objectType>"
        f"<name>{xml_encode(name)}</name><value>{xml_encode(value)}</value></item>"
        for name, value in error.named_args
    )
    return (
        f"<error><code>{xml_encode(error.code)}</code><message>{xml_encode(error.message)}</message>"
        f"<objectType>KalturaAPIException</objectType><args>{args}</args></error>"
    )


def _xml_document(result: str, elapsed: float) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><xml><result>{result}</result>'
        f"<executionTime>{max(elapsed, 0.0001):.4f}</executionTime></xml>"
    ).encode()


def php_json(value: Any) -> bytes:
    """PHP's json_encode without flags: ASCII only (``\\uXXXX``), and ``/`` escaped as ``\\/``."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def _json_value(value: Any) -> Any:
    if isinstance(value, ApiObject):
        out = {name: _json_value(prop) for name, prop in value.properties if prop is not None}
        out["objectType"] = value.object_type
        return out
    return value


def serialize_result(value: Any, fmt: str, elapsed: float) -> tuple[bytes, str]:
    """A successful result as (body, Content-Type); ``fmt`` must be FORMAT_JSON or FORMAT_XML."""
    if fmt == FORMAT_JSON:
        return php_json(_json_value(value)), "application/json"
    return _xml_document(_xml_value(value), elapsed), "text/xml"


def serialize_error(error: KalturaError, fmt: str, elapsed: float) -> tuple[bytes, str]:
    """A KalturaAPIException as (body, Content-Type)."""
    if fmt == FORMAT_JSON:
        # an exception without arguments is an empty PHP array, which json_encode writes as []
        args: dict[str, str] | list[str] = dict(error.named_args) if error.named_args else []
        body = {"code": error.code, "message": error.message, "objectType": "KalturaAPIException", "args": args}
        return php_json(body), "application/json"
    return _xml_document(_xml_error(error), elapsed), "text/xml"


def die_headers(error: KalturaError) -> list[tuple[str, str]]:
    """The headers of kRendererDieError: how file actions and unknown formats report an error (empty body)."""
    return [
        ("X-Kaltura", f"error- {error.code}"),
        ("X-Kaltura-App", f"exiting on error {error.code} - {error.message}"),
    ]
