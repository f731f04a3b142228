"""The Kaltura client against the emulator over HTTP: sessions, streamed CSVs and every failure shape."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from kaltura_export.credentials import AdminSecretCredentials, AppTokenCredentials, KsCredentials
from kaltura_export.errors import KalturaError, TransientKalturaError
from kaltura_export.kaltura import KalturaClient
from kaltura_export.redact import REDACTED, Redactor
from local.kaltura_emulator import KalturaEmulator

PARAMS = "from_date=1796169600;to_date=1796256000"


@pytest.fixture
def client(emulator: KalturaEmulator) -> Iterator[KalturaClient]:
    with requests.Session() as http:
        yield KalturaClient(emulator.url, session=http, redactor=Redactor(), timeout=5)


def body(client: KalturaClient, ks: str, report_id: int = 6000, params: str = PARAMS) -> bytes:
    with client.report_csv(ks, report_id, params) as chunks:
        return b"".join(chunks)


def test_admin_secret_session(client: KalturaClient, emulator: KalturaEmulator) -> None:
    ks = client.start_session(AdminSecretCredentials(emulator.partner_id, emulator.admin_secret, expiry=600))
    assert ks in emulator.issued_ks
    assert body(client, ks).startswith(b"\xef\xbb\xbfentry_id,entry_name,")


def test_app_token_session(client: KalturaClient, emulator: KalturaEmulator) -> None:
    emulator.add_app_token("1_tok", "c" * 32, hash_type="SHA1")
    ks = client.start_session(AppTokenCredentials(emulator.partner_id, "1_tok", "c" * 32, hash_type="SHA1"))
    assert ks in emulator.issued_ks and b"entry_id" in body(client, ks)


def test_stored_ks_is_used_as_is(client: KalturaClient, emulator: KalturaEmulator) -> None:
    ks = emulator.mint_ks()
    assert client.start_session(KsCredentials(ks, emulator.partner_id)) == ks


@pytest.mark.parametrize(
    ("creds", "code"),
    [
        (lambda e: AdminSecretCredentials(e.partner_id, "0" * 32), "START_SESSION_ERROR"),
        (lambda e: AppTokenCredentials(e.partner_id, "1_none", "x" * 32), "APP_TOKEN_ID_NOT_FOUND"),
    ],
)
def test_session_errors_carry_kaltura_codes(client: KalturaClient, emulator: KalturaEmulator, creds, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KalturaError) as info:
        client.start_session(creds(emulator))
    assert info.value.code == code and not info.value.retryable


def test_a_wrong_app_token_hash_is_rejected(client: KalturaClient, emulator: KalturaEmulator) -> None:
    emulator.add_app_token("1_tok", "c" * 32)
    with pytest.raises(KalturaError) as info:
        client.start_session(AppTokenCredentials(emulator.partner_id, "1_tok", "d" * 32))
    assert info.value.code == "INVALID_APP_TOKEN_HASH"


def test_the_body_streams_in_pieces(client: KalturaClient, emulator: KalturaEmulator) -> None:
    emulator.scale = 40
    with client.report_csv(emulator.mint_ks(), 6001, PARAMS) as chunks:
        pieces = [len(c) for c in chunks]
    assert len(pieces) > 1 and sum(pieces) > 256 * 1024


def test_invalid_ks_is_redacted(client: KalturaClient, emulator: KalturaEmulator) -> None:
    forged = emulator.mint_ks()[:-8] + "AAAAAAAA"
    with pytest.raises(KalturaError) as info:
        body(client, forged)
    assert info.value.code == "INVALID_KS" and not info.value.retryable
    assert forged not in str(info.value) and REDACTED in str(info.value)
    assert emulator.calls[-1].outcome == "INVALID_KS"


def test_expired_ks(client: KalturaClient, emulator: KalturaEmulator) -> None:
    ks = emulator.mint_ks()
    emulator.revoke(ks)
    with pytest.raises(KalturaError, match=r"Invalid KS") as info:
        body(client, ks)
    assert info.value.code == "INVALID_KS"


@pytest.mark.parametrize(
    ("kind", "code", "retryable"),
    [
        ("ACTION_BLOCKED", "ACTION_BLOCKED", True),
        ("DRUID_QUERY_TIMED_OUT", "DRUID_QUERY_TIMED_OUT", True),
        ("INTERNAL_SERVERL_ERROR", "INTERNAL_SERVERL_ERROR", True),
        ("SEARCH_TOO_GENERAL", "SEARCH_TOO_GENERAL", False),
        ("SERVICE_FORBIDDEN", "SERVICE_FORBIDDEN", False),
        ("HTTP_500", "HTTP_ERROR", True),
        ("REPORT_NOT_FOUND", "REPORT_NOT_FOUND", False),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_error_shape_becomes_a_domain_error(
    emulator: KalturaEmulator, kind: str, code: str, retryable: bool, fmt: str
) -> None:
    emulator.faults.add(kind, report_id=6000)
    ks = emulator.mint_ks()
    with requests.Session() as http:
        # XML is the server's default error format; the client must read it as well as JSON
        client = KalturaClient(
            emulator.url, session=http, redactor=Redactor(), response_format=2 if fmt == "xml" else 1
        )
        with pytest.raises(KalturaError) as info:
            body(client, ks)
    assert info.value.code == code and info.value.retryable is retryable
    assert ks not in str(info.value)


def test_report_not_found_from_headers_names_the_report(client: KalturaClient, emulator: KalturaEmulator) -> None:
    with pytest.raises(KalturaError) as info:
        body(client, emulator.mint_ks(), report_id=6003)
    assert info.value.code == "REPORT_NOT_FOUND" and 'Report id "6003" not found' in str(info.value)


@pytest.mark.parametrize("kind", ["DROP_MID_BODY", "SHORT_BODY"])
def test_a_body_cut_short_is_a_transient_fault_never_data(
    client: KalturaClient, emulator: KalturaEmulator, kind: str
) -> None:
    emulator.scale = 20
    emulator.faults.add(kind, report_id=6001)
    with pytest.raises(TransientKalturaError) as info:
        body(client, emulator.mint_ks(), report_id=6001)
    assert info.value.code == "TRUNCATED_BODY"


def test_a_closed_port_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with requests.Session() as http:
        client = KalturaClient(
            f"http://127.0.0.1:{port}", session=http, redactor=Redactor(), timeout=2, connect_timeout=1
        )
        with pytest.raises(TransientKalturaError) as info:
            body(client, "ks")
    assert info.value.code == "CONNECTION_ERROR"


def test_a_slow_answer_times_out(emulator: KalturaEmulator) -> None:
    emulator.faults.add("SLOW", report_id=6000, seconds=3)
    with requests.Session() as http:
        client = KalturaClient(emulator.url, session=http, redactor=Redactor(), timeout=0.5)
        with pytest.raises(TransientKalturaError) as info:
            body(client, emulator.mint_ks())
    assert info.value.code == "TIMEOUT"
