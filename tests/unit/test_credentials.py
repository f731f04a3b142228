from __future__ import annotations

import base64
import json

import pytest

from kaltura_export.credentials import (
    AdminSecretCredentials,
    AppTokenCredentials,
    KsCredentials,
    parse_secret,
    partner_id_from_ks,
)
from kaltura_export.errors import SecretError

ADMIN = "f" * 32
TOKEN = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"


def v2_ks(pid: int) -> str:
    raw = f"v2|{pid}|".encode() + bytes(range(48))
    return base64.b64encode(raw).decode().replace("+", "-").replace("/", "_")


def v1_ks(pid: int) -> str:
    return base64.b64encode(f"{'0' * 40}|{pid};{pid};1999999999;2;123;admin;;".encode()).decode()


def test_partner_id_from_v2_and_v1_ks() -> None:
    assert partner_id_from_ks(v2_ks(4242)) == 4242
    assert partner_id_from_ks(v1_ks(105)) == 105
    with pytest.raises(ValueError):
        partner_id_from_ks("not a ks!")


def test_bare_string_and_json_string_are_a_ks() -> None:
    ks = v2_ks(77)
    for value in (ks, f"  {ks}\n", json.dumps(ks), json.dumps({"ks": ks})):
        creds = parse_secret(value, name="s")
        assert isinstance(creds, KsCredentials) and creds.ks == ks and creds.partner_id == 77


def test_admin_secret_shape() -> None:
    creds = parse_secret(
        json.dumps(
            {"partner_id": "123", "admin_secret": ADMIN, "user_id": "exporter", "expiry": 900, "privileges": "x:1"}
        ),
        name="s",
    )
    assert creds == AdminSecretCredentials(123, ADMIN, "exporter", 900, "x:1")
    assert ADMIN not in repr(creds)


def test_app_token_shape_is_recommended_and_hides_the_token() -> None:
    creds = parse_secret(
        json.dumps({"partner_id": 5, "app_token_id": "1_x", "app_token": TOKEN, "hash_type": "sha1"}), name="s"
    )
    assert isinstance(creds, AppTokenCredentials)
    assert (creds.partner_id, creds.app_token_id, creds.hash_type) == (5, "1_x", "SHA1")
    assert TOKEN not in repr(creds)


def test_service_url_override() -> None:
    creds = parse_secret(json.dumps({"ks": v2_ks(1), "service_url": "https://api.eu.kaltura.com"}), name="s")
    assert creds.service_url == "https://api.eu.kaltura.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "the value is empty"),
        ('{"partner_id": 1, "admin_secret": ', "not valid JSON"),
        ("[1, 2]", "expected a JSON object or a KS string; got JSON list"),
        ('{"partner_id": 1}', "unknown credentials shape (fields: partner_id)"),
        ('{"admin_secret": "SECRETVALUE123"}', "missing field 'partner_id'"),
        ('{"partner_id": "12a", "admin_secret": "SECRETVALUE123"}', "partner_id must be a positive whole number"),
        ('{"partner_id": true, "admin_secret": "SECRETVALUE123"}', "partner_id must be a positive whole number"),
        ('{"partner_id": 1, "admin_secret": ""}', "field 'admin_secret' is empty"),
        ('{"partner_id": 1, "admin_secret": 5}', "field 'admin_secret' must be a string"),
        ('{"partner_id": 1, "admin_secret": "SECRETVALUE123", "expiry": 5}', "expiry must be"),
        ('{"partner_id": 1, "app_token_id": "x"}', "missing field 'app_token'"),
        ('{"partner_id": 1, "app_token_id": "x", "app_token": "SECRETVALUE123", "hash_type": "CRC"}', "hash_type"),
        ('{"partner_id": 1, "admin_secret": "SECRETVALUE123", "secret2": 1}', "unexpected field(s) secret2"),
        ('{"ks": "SECRETVALUE123"}', "the stored KS is not a Kaltura session"),
        ("SECRETVALUE123", "the stored KS is not a Kaltura session"),
    ],
)
def test_bad_secrets_name_the_secret_and_field_never_the_value(value: str, expected: str) -> None:
    with pytest.raises(SecretError) as info:
        parse_secret(value, name="kaltura/prod")
    message = str(info.value)
    assert message.startswith("secret kaltura/prod: ")
    assert expected in message
    assert "SECRETVALUE123" not in message


def test_partner_id_must_match_the_stored_ks() -> None:
    with pytest.raises(SecretError, match="does not match"):
        parse_secret(json.dumps({"ks": v2_ks(1), "partner_id": 2}), name="s")
