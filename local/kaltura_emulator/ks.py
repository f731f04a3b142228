"""Kaltura Session (KS) strings: v2 minting and v1/v2 validation, as kSessionBase does them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SESSION_USER = 0
SESSION_ADMIN = 2

_V2_PREFIX = b"v2|"
_RANDOM_LEN = 16
_SHA1_LEN = 20
_ZERO_IV = b"\0" * 16


class KsDecodeError(Exception):
    """The KS cannot be decoded, is not signed with the partner's admin secret, or lacks a field."""


@dataclass(frozen=True)
class KsInfo:
    """What a valid KS says about its session."""

    partner_id: int
    session_type: int
    user_id: str
    expiry: int
    privileges: tuple[tuple[str, str], ...]
    version: int

    def privilege(self, name: str) -> str | None:
        """The value of a privilege (``""`` when it has none), or None when the KS does not carry it."""
        for key, value in self.privileges:
            if key == name:
                return value
        return None

    @property
    def privileges_string(self) -> str:
        """Privileges in the ``name:value,name`` form used by session.start."""
        return ",".join(f"{k}:{v}" if v else k for k, v in self.privileges)


def parse_privileges(privileges: str) -> dict[str, list[str]]:
    """``"a:1,b,c:x/y"`` → ``{"a": ["1"], "b": [], "c": ["x", "y"]}`` (ks::parsePrivileges)."""
    parsed: dict[str, list[str]] = {}
    for item in privileges.split(","):
        item = item.strip()
        if not item:
            continue
        if item == "*":
            item = "all:*"
        name, _, value = item.partition(":")
        values = parsed.setdefault(name, [])
        if value:
            values.extend(value.split("/"))
    return parsed


def build_privileges(privileges: dict[str, list[str]]) -> str:
    """Inverse of :func:`parse_privileges` (ks::buildPrivileges)."""
    return ",".join(f"{name}:{'/'.join(values)}" if values else name for name, values in privileges.items())


def _aes_key(admin_secret: str) -> bytes:
    return hashlib.sha1(admin_secret.encode()).digest()[:16]


def _aes_encrypt(admin_secret: str, message: bytes) -> bytes:
    if len(message) % 16:
        message += b"\0" * (16 - len(message) % 16)
    encryptor = Cipher(algorithms.AES(_aes_key(admin_secret)), modes.CBC(_ZERO_IV)).encryptor()
    return encryptor.update(message) + encryptor.finalize()


def _aes_decrypt(admin_secret: str, message: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(_aes_key(admin_secret)), modes.CBC(_ZERO_IV)).decryptor()
    return decryptor.update(message) + decryptor.finalize()


def mint_v2(
    admin_secret: str, partner_id: int, session_type: int, user_id: str, expires_at: int, privileges: str = ""
) -> str:
    """A v2 KS, byte-compatible with KalturaClient.generateSessionV2 (``expires_at`` is absolute)."""
    fields: dict[str, str] = {}
    for item in privileges.split(","):
        item = item.strip()
        if not item:
            continue
        if item == "*":
            item = "all:*"
        name, _, value = item.partition(":")
        fields[name] = value
    fields["_e"] = str(expires_at)
    fields["_t"] = str(session_type)
    fields["_u"] = user_id
    plain = os.urandom(_RANDOM_LEN) + urlencode(fields).encode()
    signed = hashlib.sha1(plain).digest() + plain
    decoded = _V2_PREFIX + str(partner_id).encode() + b"|" + _aes_encrypt(admin_secret, signed)
    return base64.urlsafe_b64encode(decoded).decode("ascii")


def mint_v1(
    admin_secret: str, partner_id: int, session_type: int, user_id: str, expires_at: int, privileges: str = ""
) -> str:
    """A legacy v1 KS (only so that v1 validation can be exercised)."""
    rand = int.from_bytes(os.urandom(4), "big")
    info = f"{partner_id};{partner_id};{expires_at};{session_type};{rand};{user_id};{privileges}"
    signature = hashlib.sha1((admin_secret + info).encode()).hexdigest()
    return base64.b64encode(f"{signature}|{info}".encode()).decode("ascii")


def _b64decode(ks: str) -> bytes:
    # the server undoes the URL-safe substitution and tolerates missing padding, like PHP's base64_decode
    data = ks.strip().replace("-", "+").replace("_", "/").rstrip("=")
    if len(data) % 4 == 1:
        raise KsDecodeError("bad base64 length")
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KsDecodeError("not base64") from exc


def decode(ks: str, secret_for: Callable[[int], str | None]) -> KsInfo:
    """Decode and verify a KS; ``secret_for(partner_id)`` returns the admin secret, or None for an unknown partner.

    Checks only structure and signature: expiry, revocation and restrictions are the caller's business,
    because the server reports those with a different INVALID_KS reason than a forged or garbled KS.
    """
    raw = _b64decode(ks)
    if raw.startswith(_V2_PREFIX):
        return _decode_v2(raw, secret_for)
    return _decode_v1(raw, secret_for)


def _int(text: str | bytes) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise KsDecodeError("not a number") from exc


def _decode_v2(raw: bytes, secret_for: Callable[[int], str | None]) -> KsInfo:
    parts = raw.split(b"|", 2)
    if len(parts) != 3:
        raise KsDecodeError("no partner")
    partner_id = _int(parts[1])
    secret = secret_for(partner_id)
    encrypted = parts[2]
    if secret is None or not encrypted or len(encrypted) % 16:
        raise KsDecodeError("unknown partner or bad cipher text")
    plain = _aes_decrypt(secret, encrypted).rstrip(b"\0")
    if len(plain) < _SHA1_LEN + _RANDOM_LEN:
        raise KsDecodeError("too short")
    signature, signed = plain[:_SHA1_LEN], plain[_SHA1_LEN:]
    if hashlib.sha1(signed).digest() != signature:
        raise KsDecodeError("bad signature")
    try:
        text = signed[_RANDOM_LEN:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KsDecodeError("fields are not UTF-8") from exc
    fields = parse_qsl(text, keep_blank_values=True)
    values = dict(fields)
    if "_e" not in values or "_t" not in values:
        raise KsDecodeError("missing fields")
    privileges = tuple((k, v) for k, v in fields if not k.startswith("_"))
    return KsInfo(
        partner_id=partner_id,
        session_type=_int(values["_t"]),
        user_id=values.get("_u", ""),
        expiry=_int(values["_e"]),
        privileges=privileges,
        version=2,
    )


def _decode_v1(raw: bytes, secret_for: Callable[[int], str | None]) -> KsInfo:
    signature, sep, info_bytes = raw.partition(b"|")
    if not sep:
        raise KsDecodeError("not a KS")
    try:
        info = info_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KsDecodeError("info is not UTF-8") from exc
    fields = info.split(";")
    if len(fields) < 6:
        raise KsDecodeError("missing fields")
    partner_id = _int(fields[0])
    secret = secret_for(partner_id)
    if secret is None or hashlib.sha1((secret + info).encode()).hexdigest().encode() != signature:
        raise KsDecodeError("bad signature")
    privileges = parse_privileges(fields[6]) if len(fields) > 6 else {}
    return KsInfo(
        partner_id=partner_id,
        session_type=_int(fields[3]),
        user_id=fields[5],
        expiry=_int(fields[2]),
        privileges=tuple((k, "/".join(v)) for k, v in privileges.items()),
        version=1,
    )
