"""Kaltura credentials as stored in the secret: parsing and validation (pure, no network).

Three shapes (DESIGN.md "Credentials"): a ready KS; partner id + admin secret (``session.start``);
partner id + app token (``session.startWidgetSession`` then ``appToken.startSession``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import SecretError

HASH_TYPES = ("MD5", "SHA1", "SHA256", "SHA512")
#: a short-lived session per run; a long backfill refreshes it on INVALID_KS
DEFAULT_EXPIRY = 3600


@dataclass(frozen=True)
class KsCredentials:
    """A ready KS; it expires (one day by default), so this shape is for trials."""

    ks: str = field(repr=False)
    partner_id: int
    service_url: str | None = None


@dataclass(frozen=True)
class AdminSecretCredentials:
    """Partner id and admin secret: the exporter calls ``session.start`` (ADMIN type)."""

    partner_id: int
    admin_secret: str = field(repr=False)
    user_id: str = ""
    expiry: int = DEFAULT_EXPIRY
    privileges: str = ""
    service_url: str | None = None


@dataclass(frozen=True)
class AppTokenCredentials:
    """Partner id and an app token (recommended: revocable, privileges set on the token)."""

    partner_id: int
    app_token_id: str
    app_token: str = field(repr=False)
    hash_type: str = "SHA256"
    user_id: str = ""
    expiry: int = DEFAULT_EXPIRY
    service_url: str | None = None


Credentials = KsCredentials | AdminSecretCredentials | AppTokenCredentials

_KNOWN = {
    "ks": {"ks", "partner_id", "service_url"},
    "admin": {"partner_id", "admin_secret", "user_id", "expiry", "privileges", "service_url"},
    "app": {"partner_id", "app_token_id", "app_token", "hash_type", "user_id", "expiry", "service_url"},
}


def parse_secret(value: str, *, name: str) -> Credentials:
    """Credentials from a secret's string value; errors name the secret and field, never a value."""
    text = value.strip()
    if not text:
        raise SecretError(f"secret {name}: the value is empty")
    if text.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SecretError(f"secret {name}: the value starts like JSON but is not valid JSON ({exc.msg})") from None
    elif text.startswith('"'):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise SecretError(f"secret {name}: the value is neither JSON nor a KS") from None
    else:
        data = text
    if isinstance(data, str):
        return _ks_credentials({"ks": data}, name)
    if not isinstance(data, dict):
        raise SecretError(f"secret {name}: expected a JSON object or a KS string; got JSON {type(data).__name__}")
    if "ks" in data:
        return _ks_credentials(data, name)
    if "admin_secret" in data:
        _unknown(data, "admin", name)
        return AdminSecretCredentials(
            partner_id=_partner_id(data, name),
            admin_secret=_text(data, "admin_secret", name),
            user_id=_text(data, "user_id", name, default=""),
            expiry=_expiry(data, name),
            privileges=_text(data, "privileges", name, default=""),
            service_url=_text(data, "service_url", name, default="") or None,
        )
    if "app_token" in data or "app_token_id" in data:
        _unknown(data, "app", name)
        hash_type = _text(data, "hash_type", name, default="SHA256").upper()
        if hash_type not in HASH_TYPES:
            raise SecretError(f"secret {name}: hash_type must be one of {', '.join(HASH_TYPES)}; got {hash_type!r}")
        return AppTokenCredentials(
            partner_id=_partner_id(data, name),
            app_token_id=_text(data, "app_token_id", name),
            app_token=_text(data, "app_token", name),
            hash_type=hash_type,
            user_id=_text(data, "user_id", name, default=""),
            expiry=_expiry(data, name),
            service_url=_text(data, "service_url", name, default="") or None,
        )
    keys = ", ".join(sorted(str(k) for k in data)) or "none"
    raise SecretError(
        f"secret {name}: unknown credentials shape (fields: {keys}); expected one of "
        '{"ks"}, {"partner_id", "admin_secret"} or {"partner_id", "app_token_id", "app_token"}'
    )


def partner_id_from_ks(ks: str) -> int:
    """The partner id a KS carries: ``v2|<pid>|…`` (URL-safe base64) or a v1 KS's fields."""
    padded = ks + "=" * (-len(ks) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if raw.startswith(b"v2|"):
        pid = raw.split(b"|", 2)[1]
    else:
        # v1: sha1hex "|" partnerId;partnerId;validUntil;...
        _, sep, info = raw.partition(b"|")
        if not sep:
            raise ValueError("not a KS")
        pid = info.split(b";", 1)[0]
    if not pid.isdigit():
        raise ValueError("no partner id in the KS")
    return int(pid)


def _ks_credentials(data: dict[str, Any], name: str) -> KsCredentials:
    _unknown(data, "ks", name)
    ks = _text(data, "ks", name)
    try:
        from_ks = partner_id_from_ks(ks)
    except ValueError:
        raise SecretError(
            f"secret {name}: the stored KS is not a Kaltura session (no partner id can be read)"
        ) from None
    if "partner_id" in data and _partner_id(data, name) != from_ks:
        raise SecretError(f"secret {name}: partner_id does not match the partner of the stored KS")
    return KsCredentials(ks=ks, partner_id=from_ks, service_url=_text(data, "service_url", name, default="") or None)


def _unknown(data: dict[str, Any], shape: str, name: str) -> None:
    extra = sorted(set(data) - _KNOWN[shape])
    if extra:
        raise SecretError(f"secret {name}: unexpected field(s) {', '.join(map(str, extra))} for this credentials shape")


def _text(data: dict[str, Any], key: str, name: str, *, default: str | None = None) -> str:
    if key not in data or data[key] is None:
        if default is None:
            raise SecretError(f"secret {name}: missing field {key!r}")
        return default
    value = data[key]
    if not isinstance(value, str):
        raise SecretError(f"secret {name}: field {key!r} must be a string; got {type(value).__name__}")
    if default is None and not value.strip():
        raise SecretError(f"secret {name}: field {key!r} is empty")
    return value.strip()


def _partner_id(data: dict[str, Any], name: str) -> int:
    if "partner_id" not in data:
        raise SecretError(f"secret {name}: missing field 'partner_id'")
    value = data["partner_id"]
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise SecretError(f"secret {name}: partner_id must be a positive whole number")
    pid = int(str(value).strip())
    if pid <= 0:
        raise SecretError(f"secret {name}: partner_id must be a positive whole number")
    return pid


def _expiry(data: dict[str, Any], name: str) -> int:
    value = data.get("expiry", DEFAULT_EXPIRY)
    if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 86400:
        raise SecretError(f"secret {name}: expiry must be a number of seconds between 60 and 86400")
    return value
