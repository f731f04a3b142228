from __future__ import annotations

import base64

from kaltura_export.redact import REDACTED, Redactor, redact


def test_ks_shaped_tokens_are_redacted() -> None:
    ks = base64.urlsafe_b64encode(b"v2|4242|" + bytes(range(60))).decode()
    text = f'Invalid KS "{ks}", Error "-1,INVALID_STR"'
    assert redact(text) == f'Invalid KS "{REDACTED}", Error "-1,INVALID_STR"'
    assert redact('Invalid KS "djJ8MTIzNDU2fEXAMPLEONLY"') == f'Invalid KS "{REDACTED}"'


def test_ordinary_text_is_left_alone() -> None:
    text = "report 6001: entry 1_abcd1234, user m.garcia@example.edu, window 2026-12-01T00:00:00Z"
    assert redact(text) == text


def test_known_secrets_are_redacted_even_when_short_or_hex() -> None:
    r = Redactor(["0123456789abcdef0123456789abcdef", "tok-12345678"])
    assert r("secret=0123456789abcdef0123456789abcdef token tok-12345678!") == f"secret={REDACTED} token {REDACTED}!"


def test_keys_and_secret_names_stay_readable() -> None:
    text = (
        "writing s3://kx-cb6d5e3b33/kaltura/attendees/partner_id=4242/dt=2026-12-02/"
        "attendees_daily_20261202T000000Z_20261203T000000Z.csv failed; check secret "
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:kaltura-export/university-admin-credentials-AbCdEf"
    )
    assert redact(text) == text


def test_a_v1_ks_in_standard_base64_is_redacted() -> None:
    info = "0123456789abcdef0123456789abcdef01234567|4242;4242;1999999999;2;8812;exporter@univ.edu;disableentitlement;;"
    ks = base64.b64encode(info.encode() + bytes(range(200, 232))).decode()
    assert redact(f"rejected {ks} here") == f"rejected {REDACTED} here"


def test_tiny_values_are_not_taken_as_secrets() -> None:
    r = Redactor(["abc"])
    assert r("abc def") == "abc def"
