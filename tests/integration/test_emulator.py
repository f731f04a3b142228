"""The local Kaltura emulator against its reference (shared/reference/kaltura-api.md), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http import client as http_client
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from local.kaltura_emulator import FAULT_KINDS, KalturaEmulator
from local.kaltura_emulator.ks import mint_v1

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "reference" / "samples"
PARTNER = 4242
SECRET = "0123456789abcdef0123456789abcdef"
REPORT_PATH = "/api_v3/service/report/action/getCsvFromStringParams"
BOM = b"\xef\xbb\xbf"
MONDAY = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
WEEK = (MONDAY, MONDAY + 7 * 86400)
NEW_YORK = ZoneInfo("America/New_York")
COLUMNS = {
    6000: "entry_id,entry_name,parent_entry_id,cue_point_id,session_start_time,session_end_time,"
    "session_host_user_id,meeting_view_period_unique_users,meeting_engaged_play_time_ratio",
    6001: "entry_id,cue_point_id,user_id,user_name,user_email,user_type,meeting_view_time,"
    "meeting_engaged_play_time_ratio",
    6002: "parent_entry_id,parent_entry_name,breakout_entry_id,breakout_entry_name,cue_point_id,session_initiator,"
    "session_start_time,session_end_time,duration,participant_count,engagement_rate",
}


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def server() -> Iterator[KalturaEmulator]:
    with KalturaEmulator(partner_id=PARTNER, admin_secret=SECRET, seed=7) as emulator:
        yield emulator


@pytest.fixture
def emu(server: KalturaEmulator) -> Iterator[KalturaEmulator]:
    server.reset(calls=True)
    yield server
    server.reset(calls=True)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def ks(emu: KalturaEmulator) -> str:
    return emu.mint_ks()


def dates(report_id: int, window: tuple[int, int] = WEEK) -> str:
    if report_id == 6002:
        return f"fromDate={window[0]};toDate={window[1]}"
    return f"from_date={window[0]};to_date={window[1]}"


def report(
    http: requests.Session, emu: KalturaEmulator, ks: str, report_id: int | str, params: str, **extra: Any
) -> requests.Response:
    data = {"ks": ks, "id": report_id, "params": params, **extra}
    return http.post(emu.url + REPORT_PATH, data=data, timeout=60)


def csv_lines(body: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a report body; commas inside values are already spaces, so split is exact."""
    assert body.startswith(BOM)
    text = body[len(BOM) :].decode("utf-8")
    assert text.endswith("\n") and "\r" not in text
    lines = text[:-1].split("\n")
    if lines == [""]:
        return [], []
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def wire(rows: list[list[str]], header: str) -> bytes:
    if not rows:
        return BOM + b"\n"
    return BOM + (header + "\n" + "".join(",".join(r) + "\n" for r in rows)).encode()


def api(http: requests.Session, emu: KalturaEmulator, service: str, action: str, **params: Any) -> requests.Response:
    return http.post(f"{emu.url}/api_v3/service/{service}/action/{action}", data=params, timeout=30)


def error_of(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["objectType"] == "KalturaAPIException"
    assert list(body) == ["code", "message", "objectType", "args"]
    return body


def xml_result(response: requests.Response) -> str:
    assert response.headers["Content-Type"] == "text/xml"
    match = re.fullmatch(
        r'<\?xml version="1.0" encoding="utf-8"\?><xml><result>(.*)</result>'
        r"<executionTime>\d+\.\d+</executionTime></xml>",
        response.text,
    )
    assert match, response.text
    return match.group(1)


def reference_decrypt(ks: str, secret: str) -> dict[str, str]:
    """KS v2 fields, decoded by the algorithm of reference §4.2 (independently of the emulator)."""
    raw = base64.urlsafe_b64decode(ks + "=" * (-len(ks) % 4))
    assert raw.startswith(f"v2|{PARTNER}|".encode())
    encrypted = raw[len(f"v2|{PARTNER}|") :]
    key = hashlib.sha1(secret.encode()).digest()[:16]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(b"\0" * 16)).decryptor()
    plain = (decryptor.update(encrypted) + decryptor.finalize()).rstrip(b"\0")
    assert hashlib.sha1(plain[20:]).digest() == plain[:20]
    return dict(parse_qsl(plain[36:].decode(), keep_blank_values=True))


def reference_mint(secret: str, user_id: str, session_type: int, expiry: int, privileges: str) -> str:
    """KalturaClient.generateSessionV2, re-implemented from the reference for a round trip."""
    fields: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in privileges.split(","))):
        name, _, value = item.partition(":")
        fields[name] = value
    fields.update({"_e": str(int(time.time()) + expiry), "_t": str(session_type), "_u": user_id})
    plain = os.urandom(16) + urlencode(fields).encode()
    plain = hashlib.sha1(plain).digest() + plain
    plain += b"\0" * (-len(plain) % 16)
    key = hashlib.sha1(secret.encode()).digest()[:16]
    encryptor = Cipher(algorithms.AES(key), modes.CBC(b"\0" * 16)).encryptor()
    encrypted = encryptor.update(plain) + encryptor.finalize()
    return base64.urlsafe_b64encode(f"v2|{PARTNER}|".encode() + encrypted).decode()


# ---------------------------------------------------------------------------------------------- sessions


def test_session_start_xml_and_json(emu: KalturaEmulator, http: requests.Session) -> None:
    response = api(http, emu, "session", "start", secret=SECRET, partnerId=PARTNER, type=2, userId="exporter")
    ks_xml = xml_result(response)
    assert ks_xml.startswith("djJ8")  # base64 of "v2|"
    fields = reference_decrypt(ks_xml, SECRET)
    assert (fields["_t"], fields["_u"]) == ("2", "exporter")
    assert 86000 < int(fields["_e"]) - time.time() <= 86400

    response = api(http, emu, "session", "start", secret=SECRET, partnerId=PARTNER, type=2, expiry=900, format=1)
    assert response.headers["Content-Type"] == "application/json"
    ks_json = response.json()
    assert isinstance(ks_json, str) and response.text == json.dumps(ks_json)
    assert int(reference_decrypt(ks_json, SECRET)["_e"]) - time.time() <= 900
    assert {ks_xml, ks_json} <= set(emu.issued_ks)

    # expiry is capped at the partner's maximum (one day)
    capped = api(http, emu, "session", "start", secret=SECRET, partnerId=PARTNER, type=2, expiry=10**7, format=1)
    assert int(reference_decrypt(capped.json(), SECRET)["_e"]) - time.time() <= 86400


@pytest.mark.parametrize("partner, secret", [(PARTNER, "wrong"), (4243, SECRET)])
def test_session_start_rejects_wrong_secret_or_partner(
    emu: KalturaEmulator, http: requests.Session, partner: int, secret: str
) -> None:
    response = api(http, emu, "session", "start", secret=secret, partnerId=partner, type=2, format=1)
    assert response.text == (
        f'{{"code":"START_SESSION_ERROR","message":"Error while starting session for partner [{partner}]",'
        f'"objectType":"KalturaAPIException","args":{{"PID":"{partner}"}}}}'
    )


def test_ks_round_trip_with_reference_algorithm(emu: KalturaEmulator, http: requests.Session) -> None:
    minted = emu.mint_ks(user_id="batch", expiry=600, privileges="disableentitlement,urirestrict:/api_v3/*")
    fields = reference_decrypt(minted, SECRET)
    assert fields["_u"] == "batch" and fields["_t"] == "2"
    assert fields["disableentitlement"] == "" and fields["urirestrict"] == "/api_v3/*"
    assert list(fields)[-3:] == ["_e", "_t", "_u"]  # privileges first, like generateSessionV2

    # a KS generated locally by the client algorithm (not by the emulator) is accepted
    local = reference_mint(SECRET, "local-user", 2, 300, "")
    response = report(http, emu, local, 6000, dates(6000))
    assert response.content.startswith(BOM + b"entry_id,")
    # so is a legacy v1 KS
    legacy = mint_v1(SECRET, PARTNER, 2, "", int(time.time()) + 60)
    assert report(http, emu, legacy, 6000, dates(6000)).content == response.content


def invalid_ks_reason(response: requests.Response) -> str:
    body = error_of(response)
    assert body["code"] == "INVALID_KS"
    reason = body["args"]["KSID"]
    assert body["message"] == f'Invalid KS "{reason}", Error "-1,INVALID_STR"'
    assert body["args"] == {"KSID": reason, "ERR_CODE": "-1", "ERR_DESC": "INVALID_STR"}
    return str(reason)


def test_expired_ks(emu: KalturaEmulator, http: requests.Session) -> None:
    expired = emu.mint_ks(expiry=-5)
    assert invalid_ks_reason(report(http, emu, expired, 6000, dates(6000), format=1)) == "EXPIRED"
    short = emu.mint_ks(expiry=1)
    assert report(http, emu, short, 6000, dates(6000)).content.startswith(BOM)
    time.sleep(1.1)
    assert invalid_ks_reason(report(http, emu, short, 6000, dates(6000), format=1)) == "EXPIRED"
    assert [c.outcome for c in emu.calls] == ["INVALID_KS", "csv", "INVALID_KS"]


def test_revoked_ks_is_logout(emu: KalturaEmulator, http: requests.Session) -> None:
    first, second = emu.mint_ks(), emu.mint_ks()
    assert report(http, emu, first, 6000, dates(6000)).content.startswith(BOM)
    emu.revoke(first)
    assert invalid_ks_reason(report(http, emu, first, 6000, dates(6000), format=1)) == "LOGOUT"
    assert api(http, emu, "session", "end", ks=second).ok  # session.end revokes too
    assert invalid_ks_reason(report(http, emu, second, 6000, dates(6000), format=1)) == "LOGOUT"


def test_forged_or_garbled_ks_is_echoed(emu: KalturaEmulator, http: requests.Session) -> None:
    genuine = emu.mint_ks()
    middle = len(genuine) // 2
    tampered = genuine[:middle] + ("A" if genuine[middle] != "A" else "B") + genuine[middle + 1 :]
    with KalturaEmulator(partner_id=PARTNER, admin_secret="f" * 32) as other:
        foreign = other.mint_ks()  # right partner, wrong admin secret
    for bad in (tampered, foreign, "not-a-ks", "djJ8NDI0Mnw", "a/b+c"):
        assert invalid_ks_reason(report(http, emu, bad, 6000, dates(6000), format=1)) == bad
    # json_encode escapes "/" as "\/"
    assert '"KSID":"a\\/b+c"' in report(http, emu, "a/b+c", 6000, dates(6000), format=1).text

    # the XML shape is the reference sample's, with the rejected KS in message and args
    sample = (SAMPLES / "error-invalid-ks.xml").read_text().strip()
    expected = sample.replace("djJ8MTIzNDU2fEXAMPLEONLY", tampered)
    actual = report(http, emu, tampered, 6000, dates(6000)).text
    strip_time = re.compile(r"<executionTime>[0-9.]+</executionTime>")
    assert strip_time.sub("", actual) == strip_time.sub("", expected)


def test_missing_ks(emu: KalturaEmulator, http: requests.Session) -> None:
    response = http.post(emu.url + REPORT_PATH, data={"id": 6000, "params": dates(6000), "format": 1})
    assert response.text == (
        '{"code":"MISSING_KS","message":"Missing KS, session not established",'
        '"objectType":"KalturaAPIException","args":[]}'
    )


def test_widget_session_and_app_token_flow(emu: KalturaEmulator, http: requests.Session) -> None:
    emu.add_app_token("1_tok", "s3cr3t-token", "SHA256", session_type=2, privileges="setrole:REPORTS")
    widget = api(http, emu, "session", "startWidgetSession", widgetId=f"_{PARTNER}", format=1).json()
    assert list(widget) == ["partnerId", "ks", "userId", "objectType"]
    assert widget["objectType"] == "KalturaStartWidgetSessionResponse"
    assert (widget["partnerId"], widget["userId"]) == (PARTNER, "0")
    widget_fields = reference_decrypt(widget["ks"], SECRET)
    assert (widget_fields["_t"], widget_fields["widget"], widget_fields["view"]) == ("0", "1", "*")

    good_hash = hashlib.sha256((widget["ks"] + "s3cr3t-token").encode()).hexdigest()
    info = api(
        http, emu, "appToken", "startSession", ks=widget["ks"], id="1_tok", tokenHash=good_hash, type=0,
        expiry=1200, userId="svc", format=1,
    ).json()  # fmt: skip
    assert list(info) == ["ks", "sessionType", "partnerId", "userId", "expiry", "privileges", "objectType"]
    assert info["objectType"] == "KalturaSessionInfo" and info["userId"] == "svc"
    assert info["sessionType"] == 2  # the token's type overrides the request's
    assert info["partnerId"] == PARTNER
    assert info["privileges"].startswith("sessionid:1_tok,apptoken:1_tok,")
    assert "setrole:REPORTS" in info["privileges"]
    assert abs(info["expiry"] - (time.time() + 1200)) < 5
    assert reference_decrypt(info["ks"], SECRET)["apptoken"] == "1_tok"
    assert report(http, emu, info["ks"], 6000, dates(6000)).content.startswith(BOM + b"entry_id")

    wrong = api(http, emu, "appToken", "startSession", ks=widget["ks"], id="1_tok", tokenHash="0" * 64, format=1)
    assert error_of(wrong) == {
        "code": "INVALID_APP_TOKEN_HASH",
        "message": "Invalid application token hash",
        "objectType": "KalturaAPIException",
        "args": [],
    }
    unknown = api(http, emu, "appToken", "startSession", ks=widget["ks"], id="1_nope", tokenHash=good_hash, format=1)
    assert error_of(unknown)["message"] == 'Application token id "1_nope" not found'
    emu.add_app_token("1_off", "t", active=False)
    inactive = api(http, emu, "appToken", "startSession", ks=widget["ks"], id="1_off", tokenHash=good_hash, format=1)
    assert error_of(inactive)["code"] == "APP_TOKEN_NOT_ACTIVE"
    no_ks = api(http, emu, "appToken", "startSession", id="1_tok", tokenHash=good_hash, format=1)
    assert error_of(no_ks)["code"] == "MISSING_KS"

    # the widget KS is a USER session: reports are forbidden to it
    forbidden = error_of(report(http, emu, widget["ks"], 6000, dates(6000), format=1))
    assert forbidden["message"] == "The access to service [report->getCsvFromStringParams] is forbidden"
    assert forbidden["args"] == {"SERVICE": "report->getCsvFromStringParams"}


@pytest.mark.parametrize("hash_type", ["MD5", "SHA1", "SHA512"])
def test_app_token_hash_types_and_xml(emu: KalturaEmulator, http: requests.Session, hash_type: str) -> None:
    emu.add_app_token("1_h", "tok", hash_type)
    widget_xml = xml_result(api(http, emu, "session", "startWidgetSession", widgetId=f"_{PARTNER}"))
    match = re.fullmatch(
        r"<objectType>KalturaStartWidgetSessionResponse</objectType><partnerId>4242</partnerId>"
        r"<ks>([\w=-]+)</ks><userId>0</userId>",
        widget_xml,
    )
    assert match
    widget_ks = match.group(1)
    digest = hashlib.new(hash_type.lower(), (widget_ks + "tok").encode()).hexdigest()
    info = xml_result(api(http, emu, "appToken", "startSession", ks=widget_ks, id="1_h", tokenHash=digest))
    assert info.startswith("<objectType>KalturaSessionInfo</objectType><ks>")
    assert "<sessionType>2</sessionType><partnerId>4242</partnerId>" in info


# ---------------------------------------------------------------------------------------------- report CSV


def test_every_url_form_gives_the_same_body(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    params = dates(6001)
    query = urlencode({"service": "report", "action": "getCsvFromStringParams", "ks": ks, "id": 6001, "params": params})
    base = emu.url
    bodies = {
        "post form": http.post(base + REPORT_PATH, data={"ks": ks, "id": 6001, "params": params}).content,
        "get query": http.get(base + REPORT_PATH, params={"ks": ks, "id": "6001", "params": params}).content,
        "path pairs": http.get(f"{base}{REPORT_PATH}/id/6001/ks/{ks}/params/{quote(params)}").content,
        "index.php path": http.get(
            f"{base}/api_v3/index.php/service/report/action/getCsvFromStringParams/id/6001/ks/{ks}/params/{params}"
        ).content,
        "index.php query": http.get(f"{base}/api_v3/index.php?{query}").content,
        "api_v3 query": http.get(f"{base}/api_v3/?{query}").content,
        "json body": http.post(
            base + REPORT_PATH,
            data=json.dumps({"ks": ks, "id": 6001, "params": params}),
            headers={"Content-Type": "application/json"},
        ).content,
        "multipart": http.post(
            base + REPORT_PATH, files={"ks": (None, ks), "id": (None, "6001"), "params": (None, params)}
        ).content,
    }
    expected = wire(emu.rows_for(6001, *WEEK), COLUMNS[6001])
    assert len(expected) > 10_000
    assert {name: body == expected for name, body in bodies.items()} == dict.fromkeys(bodies, True)
    assert [c.method for c in emu.calls] == ["POST", "GET", "GET", "GET", "GET", "GET", "POST", "POST"]


def test_parameter_precedence(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    # body < query string < path pairs
    response = http.post(f"{emu.url}{REPORT_PATH}?id=6000", data={"ks": ks, "id": 6002, "params": dates(6000)})
    assert csv_lines(response.content)[0] == COLUMNS[6000].split(",")
    response = http.post(f"{emu.url}{REPORT_PATH}/id/6000?id=6002", data={"ks": ks, "params": dates(6000)})
    assert csv_lines(response.content)[0] == COLUMNS[6000].split(",")
    # the first occurrence of a path key wins
    response = http.post(f"{emu.url}{REPORT_PATH}/id/6000/id/6002", data={"ks": ks, "params": dates(6000)})
    assert csv_lines(response.content)[0] == COLUMNS[6000].split(",")
    # a JSON body is only read with exactly "application/json"
    response = http.post(
        emu.url + REPORT_PATH,
        data=json.dumps({"ks": ks, "id": 6000, "params": dates(6000), "format": 1}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert b"MISSING_KS" in response.content and response.headers["Content-Type"] == "text/xml"


@pytest.mark.parametrize("report_id", [6000, 6001, 6002])
def test_csv_shape_and_headers(emu: KalturaEmulator, http: requests.Session, ks: str, report_id: int) -> None:
    response = report(http, emu, ks, report_id, dates(report_id))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="Report_{report_id}_{PARTNER}_{dates(report_id).replace(";", "_").replace("=", "_")}'
        f'_partner_id_{PARTNER}.csv"'
    )
    header, rows = csv_lines(response.content)
    assert ",".join(header) == COLUMNS[report_id]
    assert rows and all(len(row) == len(header) for row in rows)
    assert response.content == wire(emu.rows_for(report_id, *WEEK), COLUMNS[report_id])
    assert emu.calls[-1].rows == len(rows) and emu.calls[-1].outcome == "csv"


def test_headers_match_the_reference_samples(emu: KalturaEmulator) -> None:
    for report_id, sample in ((6000, "report-6000-success.csv"), (6001, "report-6001-success.csv")):
        first_line = (SAMPLES / sample).read_bytes().split(b"\n")[0]
        assert first_line == BOM + COLUMNS[report_id].encode()
        assert emu.columns(report_id) == COLUMNS[report_id].split(",")


def test_names_are_pre_quoted_and_commas_become_spaces(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    rooms = report(http, emu, ks, 6000, dates(6000)).content.decode("utf-8-sig")
    assert ',"Intro to Statistics  Section 1",,' in rooms  # "Intro to Statistics, Section 1"
    assert ',"Office Hours with ""Dr. Ray""",,' in rooms
    assert ',"Économie politique",,' in rooms or ',"数据科学导论",,' in rooms
    attendees = report(http, emu, ks, 6001, dates(6001)).content.decode("utf-8-sig")
    assert ",Garcia  Maria," in attendees  # "Garcia, Maria", raw, not quoted
    assert ',Robert "Bob" Smith,' in attendees  # a quote inside a raw value
    assert ",Björn Ångström," in attendees and ",Zoë Mañana," in attendees
    assert {"Host", "Attendee", "Co-host"} <= {line.split(",")[5] for line in attendees.splitlines()[1:]}
    for line in attendees.splitlines()[1:]:
        cells = line.split(",")
        assert not any(cell.startswith('"') for cell in cells)  # user names are never pre-quoted
        assert 0 <= float(cells[7]) <= 1 and float(cells[6]) > 0
    breakouts = report(http, emu, ks, 6002, dates(6002)).content.decode("utf-8-sig")
    assert re.search(r',"[^"]+ / Group [AB]",', breakouts)


def test_params_string_parsing(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    f, t = WEEK
    canonical = report(http, emu, ks, 6000, f"from_date={f};to_date={t}").content
    assert canonical.startswith(BOM + b"entry_id")
    same = [
        f"from_date={f};to_date={t};",  # trailing ;
        f"  from_date={f} ;\tto_date={t}  ",  # each pair trimmed
        f"foo=bar;from_date={f};;to_date={t};baz",  # unknown keys, empty pairs
        f"from_date=1;from_date={f};to_date={t}",  # last wins
        f"from_date={f};to_date={t};entry_ids=",  # empty value: no filter
        f"from_date={f};to_date={t};cue_point_ids=1_x;user_ids=x",  # filters 6000 does not take
        f"partner_id=99;from_date={f};to_date={t}",  # partner forced from the KS
    ]
    for params in same:
        assert report(http, emu, ks, 6000, params).content == canonical, params
    assert emu.calls[-1].params == {"partner_id": "99", "from_date": str(f), "to_date": str(t)}
    forced = report(http, emu, ks, 6000, f"partner_id=99;from_date={f};to_date={t}")
    assert (
        f'filename="Report_6000_{PARTNER}___from_date_{f}_to_date_{t}_partner_id_{PARTNER}.csv"'
        in (forced.headers["Content-Disposition"])
    )
    # split on the first "=" only: the value keeps the rest
    report(http, emu, ks, 6000, f"from_date={f};to_date={t};entry_ids=a=b")
    assert emu.calls[-1].params["entry_ids"] == "a=b" and emu.calls[-1].rows == 0


@pytest.mark.parametrize(
    "report_id, params",
    [
        (6000, "FROM_DATE=1772409600;to_date=1773014400"),  # keys are case-sensitive
        (6001, "from_date=1772409600"),
        (6000, "from_date;to_date=1773014400"),  # a key without "=" is not set
        (6002, "from_date=1772409600;to_date=1773014400"),  # 6002 reads fromDate/toDate
        (6000, ""),
    ],
)
def test_missing_dates_are_internal_errors(
    emu: KalturaEmulator, http: requests.Session, ks: str, report_id: int, params: str
) -> None:
    response = report(http, emu, ks, report_id, params, format=1)
    assert response.text == (SAMPLES / "error-internal.json").read_text().strip()
    assert emu.calls[-1].outcome == "INTERNAL_SERVERL_ERROR"


def test_6002_accepts_both_spellings_but_reads_its_own(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    f, t = WEEK
    both = report(http, emu, ks, 6002, f"from_date=0;to_date=1;fromDate={f};toDate={t}").content
    assert both == wire(emu.rows_for(6002, f, t), COLUMNS[6002]) and both.count(b"\n") > 1


def test_id_errors(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    missing = http.post(emu.url + REPORT_PATH, data={"ks": ks, "params": dates(6000), "format": 1})
    assert error_of(missing)["message"] == 'Missing parameter "id"'
    for raw, shown in (("abc", "0"), ("6003", "6003")):
        response = report(http, emu, ks, raw, dates(6000))
        assert response.status_code == 200 and response.content == b""
        assert response.headers["X-Kaltura"] == "error- REPORT_NOT_FOUND"
        assert response.headers["X-Kaltura-App"] == (
            f'exiting on error REPORT_NOT_FOUND - Report id "{shown}" not found'
        )


def test_filters_filter(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    every_room = emu.room_ids(*WEEK)
    assert len(every_room) >= 10
    picked = every_room[:2]
    params = f"{dates(6000)};entry_ids={','.join(picked)}"
    _, rows = csv_lines(report(http, emu, ks, 6000, params).content)
    assert rows and {r[0] for r in rows} == set(picked)

    _, attendees = csv_lines(report(http, emu, ks, 6001, dates(6001)).content)
    users = sorted({r[2] for r in attendees})[:3]
    _, rows = csv_lines(report(http, emu, ks, 6001, f"{dates(6001)};user_ids={','.join(users)}").content)
    assert rows and {r[2] for r in rows} == set(users)
    cue = attendees[0][1]
    _, rows = csv_lines(report(http, emu, ks, 6001, f"{dates(6001)};cue_point_ids={cue}").content)
    assert rows and {r[1] for r in rows} == {cue}
    _, rows = csv_lines(report(http, emu, ks, 6001, f"{dates(6001)};entry_ids={picked[0]}").content)
    assert rows and {r[0] for r in rows} == {picked[0]}
    # values are split on "," without trimming
    _, rows = csv_lines(report(http, emu, ks, 6001, f"{dates(6001)};entry_ids={picked[0]}, {picked[1]}").content)
    assert {r[0] for r in rows} == {picked[0]}

    _, breakouts = csv_lines(report(http, emu, ks, 6002, dates(6002)).content)
    parent = breakouts[0][0]
    _, rows = csv_lines(report(http, emu, ks, 6002, f"{dates(6002)};parentEntryIds={parent}").content)
    assert rows and {r[0] for r in rows} == {parent} and len(rows) < len(breakouts)
    # 6002 does not take entry_ids: ignored, everything comes back
    _, rows = csv_lines(report(http, emu, ks, 6002, f"{dates(6002)};entry_ids={parent}").content)
    assert rows == breakouts

    event, members = next(iter(emu.university.virtual_events.items()))
    _, rows = csv_lines(report(http, emu, ks, 6000, f"{dates(6000)};virtual_event_ids={event}").content)
    assert rows and {r[0] if not r[2] else r[2] for r in rows} <= set(members)
    _, all_rows = csv_lines(report(http, emu, ks, 6000, dates(6000)).content)
    assert len(rows) < len(all_rows)
    assert rows == emu.rows_for(6000, *WEEK, {"virtual_event_ids": [event]})


def test_excluded_fields(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    response = report(http, emu, ks, 6001, dates(6001), excludedFields="user_email,user_name,no_such_column")
    header, rows = csv_lines(response.content)
    assert header == ["entry_id", "cue_point_id", "user_id", "user_type", "meeting_view_time",
                      "meeting_engaged_play_time_ratio"]  # fmt: skip
    full = emu.rows_for(6001, *WEEK)
    assert rows == [[r[0], r[1], r[2], r[5], r[6], r[7]] for r in full]
    assert emu.calls[-1].excluded_fields == ["user_email", "user_name", "no_such_column"]


def test_empty_result_has_no_header_line(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    empty = (SAMPLES / "report-empty.csv").read_bytes()
    assert empty == BOM + b"\n"
    f, _ = WEEK
    assert report(http, emu, ks, 6000, f"from_date={f};to_date={f}").content == empty  # to <= from
    before_data = int(datetime(2010, 1, 4, tzinfo=UTC).timestamp())
    assert report(http, emu, ks, 6001, dates(6001, (before_data, before_data + 86400))).content == empty
    assert report(http, emu, ks, 6002, f"{dates(6002)};parentEntryIds=1_nothing").content == empty


def test_windows_are_half_open(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    rows = emu.rows_for(6000, *WEEK)
    start = int(rows[3][4])
    _, inside = csv_lines(report(http, emu, ks, 6000, dates(6000, (start, start + 1))).content)
    assert [r[4] for r in inside] == [str(start)]
    assert report(http, emu, ks, 6000, dates(6000, (start - 100, start))).content.count(b"\n") <= len(rows)
    _, before = csv_lines(report(http, emu, ks, 6000, dates(6000, (WEEK[0], start))).content)
    assert all(int(r[4]) < start for r in before)


def test_row_cap_truncates_silently(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    emu.row_cap = 7
    header, rows = csv_lines(report(http, emu, ks, 6001, dates(6001)).content)
    assert rows == emu.rows_for(6001, *WEEK)[:7] and ",".join(header) == COLUMNS[6001]
    with KalturaEmulator(partner_id=PARTNER, admin_secret=SECRET, row_cap=3) as capped:
        response = requests.post(
            capped.url + REPORT_PATH, data={"ks": capped.mint_ks(), "id": 6000, "params": dates(6000)}, timeout=30
        )
        assert len(csv_lines(response.content)[1]) == 3
    emu.row_cap = 100_000
    _, limited = csv_lines(report(http, emu, ks, 6001, f"{dates(6001)};limit=4").content)
    assert len(limited) == 4


def test_data_is_deterministic_realistic_and_consistent(emu: KalturaEmulator) -> None:
    december = (int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()), int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()))
    same_seed = KalturaEmulator(seed=7)
    assert same_seed.rows_for(6001, *december) == emu.rows_for(6001, *december)
    assert KalturaEmulator(seed=8).rows_for(6000, *december) != emu.rows_for(6000, *december)

    year = (int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()), int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()))
    rooms = emu.rows_for(6000, *year)
    mains = [r for r in rooms if not r[2]]
    weeks = Counter(datetime.fromtimestamp(int(r[4]), NEW_YORK).isocalendar()[:2] for r in mains)
    full_weeks = sorted(weeks)[1:-1]  # the year starts and ends with partial ISO weeks
    assert len(full_weeks) >= 51 and min(weeks[w] for w in full_weeks) >= 15
    local = [datetime.fromtimestamp(int(r[4]), NEW_YORK) for r in mains]
    assert all(7 <= t.hour <= 20 for t in local)
    weekday = Counter(t.weekday() for t in local)
    assert weekday[5] + weekday[6] < min(weekday[d] for d in range(5))
    assert re.fullmatch(r"1_[0-9a-z]{8}", mains[0][0]) and len({r[0] for r in mains}) >= 10
    assert all(re.fullmatch(r"1_brk[0-9a-z]{5}", r[0]) for r in rooms if r[2])
    # a room meets at most once a day, so (parent room, local date) identifies the session that opened breakouts
    sessions_with_breakouts = len({(r[2], datetime.fromtimestamp(int(r[4]), NEW_YORK).date()) for r in rooms if r[2]})
    assert 0.15 < sessions_with_breakouts / len(mains) < 0.55

    # one week: 6000 unique users == 6001 rows per cue point; 6002 agrees with 6000's breakout rows
    week_rooms = emu.rows_for(6000, *WEEK)
    per_cue = Counter(r[1] for r in emu.rows_for(6001, *WEEK))
    assert {r[3]: int(r[7]) for r in week_rooms} == dict(per_cue)
    breakouts = emu.rows_for(6002, *WEEK)
    by_cue = {r[3]: r for r in week_rooms}
    for row in breakouts:
        room_row = by_cue[row[4]]
        assert (room_row[0], room_row[2], room_row[4], room_row[5], room_row[7]) == (
            row[2], row[0], row[6], row[7], row[9],
        )  # fmt: skip
        assert int(row[8]) == int(row[7]) - int(row[6]) > 0
        assert 0 <= float(row[10]) <= 1


def test_scale_multiplies_attendees(emu: KalturaEmulator) -> None:
    base = len(emu.rows_for(6001, *WEEK))
    emu.scale = 4
    scaled = len(emu.rows_for(6001, *WEEK))
    assert 3.5 * base < scaled < 4.5 * base
    assert len(emu.rows_for(6000, *WEEK)) == len(KalturaEmulator(seed=7).rows_for(6000, *WEEK))


# ---------------------------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "kind, message, args",
    [
        (
            "ACTION_BLOCKED",
            'Action "getCsvFromStringParams" in service "report" is blocked',
            {"ACTION_NAME": "getCsvFromStringParams", "SERVICE_NAME": "report"},
        ),
        ("DRUID_QUERY_TIMED_OUT", "Query timed out", []),
        ("INTERNAL_SERVERL_ERROR", "Internal server error occurred", []),
        ("SEARCH_TOO_GENERAL", "Unable to create report. Query produced too many results", []),
        (
            "SERVICE_FORBIDDEN",
            "The access to service [report->getCsvFromStringParams] is forbidden",
            {"SERVICE": "report->getCsvFromStringParams"},
        ),
    ],
)
def test_error_faults(
    emu: KalturaEmulator, http: requests.Session, ks: str, kind: str, message: str, args: Any
) -> None:
    emu.faults.add(kind, report_id=6001, times=2)
    body = error_of(report(http, emu, ks, 6001, dates(6001), format=1))
    assert body == {"code": kind, "message": message, "objectType": "KalturaAPIException", "args": args}
    xml = report(http, emu, ks, 6001, dates(6001)).text
    assert f"<error><code>{kind}</code><message>" in xml
    assert ("<args></args>" in xml) == (args == [])
    assert report(http, emu, ks, 6000, dates(6000)).content.startswith(BOM)  # other report: unaffected
    assert report(http, emu, ks, 6001, dates(6001)).content.startswith(BOM)  # consumed
    assert [c.outcome for c in emu.calls] == [kind, kind, "csv", "csv"]
    assert emu.calls[0].faults == [kind]


def test_action_blocked_matches_the_sample(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    emu.faults.add("ACTION_BLOCKED")
    response = report(http, emu, ks, 6000, dates(6000), format=1)
    assert response.text == (SAMPLES / "error-action-blocked.json").read_text().strip()


def test_http_500_and_slow(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    emu.faults.add("HTTP_500")
    emu.faults.add("SLOW", seconds=0.3)
    began = time.monotonic()
    response = report(http, emu, ks, 6000, dates(6000))
    assert time.monotonic() - began >= 0.3
    assert response.status_code == 500 and response.headers["Content-Type"].startswith("text/html")
    assert b"Internal Server Error" in response.content
    assert report(http, emu, ks, 6000, dates(6000)).ok
    assert [c.http_status for c in emu.calls] == [500, 200]


def raw_post(emu: KalturaEmulator, data: dict[str, Any]) -> tuple[int, bytes, bool]:
    """Declared Content-Length, bytes actually received, and whether the body was cut short."""
    url = urlsplit(emu.url)
    connection = http_client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        connection.request("POST", REPORT_PATH, urlencode(data), {"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        declared = int(response.getheader("Content-Length") or -1)
        try:
            return declared, response.read(), False
        except http_client.IncompleteRead as cut:
            return declared, cut.partial, True
    finally:
        connection.close()


def test_drop_mid_body_and_short_body(emu: KalturaEmulator, ks: str) -> None:
    data = {"ks": ks, "id": 6001, "params": dates(6001)}
    full = wire(emu.rows_for(6001, *WEEK), COLUMNS[6001])
    emu.faults.add("DROP_MID_BODY")
    declared, received, cut = raw_post(emu, data)
    assert cut and declared == len(full) and received == full[: len(full) // 2]
    emu.faults.add("SHORT_BODY")
    declared, received, cut = raw_post(emu, data)
    assert cut and declared == len(full) + 1024 and received == full
    assert raw_post(emu, data) == (len(full), full, False)
    assert [c.outcome for c in emu.calls] == ["DROP_MID_BODY", "SHORT_BODY", "csv"]
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        emu.faults.add("DROP_MID_BODY")
        requests.post(emu.url + REPORT_PATH, data=data, timeout=30)


def test_schema_drift_faults(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    emu.faults.add("ADD_COLUMN", report_id=6000)
    header, rows = csv_lines(report(http, emu, ks, 6000, dates(6000)).content)
    assert header == [*COLUMNS[6000].split(","), "meeting_new_metric"] and all(r[-1] == "0" for r in rows)
    emu.faults.add("DROP_COLUMN", name="meeting_engaged_play_time_ratio")
    header, rows = csv_lines(report(http, emu, ks, 6000, dates(6000)).content)
    assert header == COLUMNS[6000].split(",")[:-1] and all(len(r) == 8 for r in rows)
    emu.faults.add("ADD_COLUMN", name="extra", value="x", position=0, times=None)
    for _ in range(2):
        header, rows = csv_lines(report(http, emu, ks, 6002, dates(6002)).content)
        assert header[0] == "extra" and rows[0][0] == "x"
    with pytest.raises(ValueError):
        emu.faults.add("DROP_COLUMN")


def test_ignore_filter(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    room = emu.room_ids(*WEEK)[0]
    unfiltered = report(http, emu, ks, 6001, dates(6001)).content
    emu.faults.add("IGNORE_FILTER")
    assert report(http, emu, ks, 6001, f"{dates(6001)};entry_ids={room}").content == unfiltered
    assert report(http, emu, ks, 6001, f"{dates(6001)};entry_ids={room}").content != unfiltered


def test_report_not_found_and_empty_no_header_faults(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    emu.faults.add("REPORT_NOT_FOUND", report_id=6001)
    response = report(http, emu, ks, 6001, dates(6001))
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["X-Kaltura"] == "error- REPORT_NOT_FOUND"
    assert response.headers["X-Kaltura-App"] == 'exiting on error REPORT_NOT_FOUND - Report id "6001" not found'
    emu.faults.add("EMPTY_NO_HEADER")
    response = report(http, emu, ks, 6000, dates(6000))
    assert response.content == BOM + b"\n" and response.headers["Content-Type"] == "text/csv"


def test_fault_order_and_arming(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    emu.faults.add("ADD_COLUMN")
    emu.faults.add("ACTION_BLOCKED")
    # a terminal fault decides the response; the schema drift waits for the next call
    assert b"ACTION_BLOCKED" in report(http, emu, ks, 6000, dates(6000)).content
    assert csv_lines(report(http, emu, ks, 6000, dates(6000)).content)[0][-1] == "meeting_new_metric"
    assert csv_lines(report(http, emu, ks, 6000, dates(6000)).content)[0] == COLUMNS[6000].split(",")
    emu.faults.add("DRUID_QUERY_TIMED_OUT", times=None)
    for _ in range(3):
        assert b"DRUID_QUERY_TIMED_OUT" in report(http, emu, ks, 6000, dates(6000)).content
    assert len(emu.faults) == 1
    emu.faults.clear()
    assert report(http, emu, ks, 6000, dates(6000)).content.startswith(BOM)
    with pytest.raises(ValueError):
        emu.faults.add("NO_SUCH_FAULT")
    assert {"HTTP_500", "SLOW", "DROP_MID_BODY", "SHORT_BODY", "IGNORE_FILTER"} <= FAULT_KINDS


def test_throttle_and_latency(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    size = len(wire(emu.rows_for(6001, *WEEK), COLUMNS[6001]))
    assert size > 50_000
    emu.throttle(0.2, size / 0.5)  # 0.2 s to the first byte, then 0.5 s for the body
    began = time.monotonic()
    response = report(http, emu, ks, 6001, dates(6001))
    assert time.monotonic() - began >= 0.6
    assert len(response.content) == size
    emu.throttle(0, None)
    emu.latency = 0.3
    began = time.monotonic()
    assert b"MISSING_KS" in report(http, emu, "", 6000, dates(6000)).content  # every report call waits
    assert time.monotonic() - began >= 0.3


def test_ks_privileges_are_enforced(emu: KalturaEmulator, http: requests.Session) -> None:
    once = emu.mint_ks(privileges="actionslimit:1")
    assert report(http, emu, once, 6000, dates(6000)).content.startswith(BOM)
    assert invalid_ks_reason(report(http, emu, once, 6000, dates(6000), format=1)) == "EXCEEDED_ACTIONS_LIMIT"
    scoped = emu.mint_ks(privileges=f"urirestrict:{REPORT_PATH}*")
    assert report(http, emu, scoped, 6000, dates(6000)).content.startswith(BOM)
    elsewhere = emu.mint_ks(privileges="urirestrict:/api_v3/service/media/*")
    assert invalid_ks_reason(report(http, emu, elsewhere, 6000, dates(6000), format=1)) == "EXCEEDED_RESTRICTED_URI"


def test_other_api_errors(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    unknown_format = api(http, emu, "session", "start", secret=SECRET, partnerId=PARTNER, format=7)
    assert unknown_format.content == b""
    assert unknown_format.headers["X-Kaltura"] == "error- UNKNOWN_RESPONSE_FORMAT"
    assert error_of(api(http, emu, "media", "list", ks=ks, format=1))["message"] == 'Service "media" does not exists'
    assert error_of(api(http, emu, "report", "getTable", ks=ks, format=1))["code"] == "ACTION_DOES_NOT_EXISTS"
    assert xml_result(api(http, emu, "system", "ping")) == "1"
    assert http.get(emu.url + "/not/kaltura").status_code == 404
    preflight = http.options(emu.url + REPORT_PATH)
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST, GET, HEAD, OPTIONS"


def test_calls_are_recorded(emu: KalturaEmulator, http: requests.Session, ks: str) -> None:
    report(http, emu, ks, 6001, f"{dates(6001)};user_ids=a,b", excludedFields="user_email", format=1)
    (call,) = emu.calls
    assert (call.method, call.report_id, call.ks, call.http_status, call.outcome) == ("POST", 6001, ks, 200, "csv")
    assert call.params == {"from_date": str(WEEK[0]), "to_date": str(WEEK[1]), "user_ids": "a,b"}
    assert call.excluded_fields == ["user_email"] and call.format == "1" and call.rows == 0


def test_stop_cuts_pooled_connections() -> None:
    emulator = KalturaEmulator(partner_id=PARTNER, admin_secret=SECRET)
    url = emulator.start()
    with requests.Session() as session:
        assert session.get(url + "/api_v3/service/system/action/ping").ok
        emulator.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(url + "/api_v3/service/system/action/ping", timeout=5)
    with pytest.raises(RuntimeError):
        _ = KalturaEmulator().url


# ---------------------------------------------------------------------------------------------- control


def test_control_endpoint_in_a_separate_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.kaltura_emulator", "--port", "0", "--json", "--admin-secret", SECRET],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["partner_id"] == PARTNER and started["admin_secret"] == SECRET
        url = started["url"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        control = url + "/_emulator/control"
        with requests.Session() as session:
            ks_out = session.post(control, json={"mint_ks": {"expiry": 600}}, timeout=10).json()["ks"]
            state = session.post(
                control,
                json={"fault": {"kind": "ACTION_BLOCKED", "report_id": 6000, "times": 1}, "latency": 0.2,
                      "scale": 2, "throttle": {"ttfb": 0.1, "bytes_per_second": 5_000_000}},
                timeout=10,
            ).json()  # fmt: skip
            assert state["faults"][0]["kind"] == "ACTION_BLOCKED" and state["scale"] == 2
            assert state["throttle"] == {"ttfb": 0.1, "bytes_per_second": 5_000_000}
            data = {"ks": ks_out, "id": 6000, "params": dates(6000)}
            began = time.monotonic()
            assert b"ACTION_BLOCKED" in session.post(url + REPORT_PATH, data=data, timeout=10).content
            assert time.monotonic() - began >= 0.2
            assert session.post(url + REPORT_PATH, data=data, timeout=10).content.startswith(BOM)
            state = session.get(url + "/_emulator/state", timeout=10).json()
            assert state["calls"] == 2 and state["calls_by_report"] == {"6000": 2}
            assert state["outcomes"] == {"ACTION_BLOCKED": 1, "csv": 1} and state["faults"] == []
            cleared = session.post(control, json={"clear": True}, timeout=10).json()
            assert (cleared["latency"], cleared["scale"], cleared["throttle"]["ttfb"]) == (0.0, 1, 0.0)
            bad = session.post(control, json={"fault": {"kind": "NOPE"}}, timeout=10)
            assert bad.status_code == 400 and "NOPE" in bad.json()["error"]
            assert session.post(control, json={"bogus": 1}, timeout=10).status_code == 400
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_control_endpoint_in_process(emu: KalturaEmulator, http: requests.Session) -> None:
    state = http.post(emu.url + "/_emulator/control", json={"row_cap": 2, "scale": 3}, timeout=10).json()
    assert (state["row_cap"], state["scale"]) == (2, 3) and (emu.row_cap, emu.scale) == (2, 3)
    assert http.get(emu.url + "/_emulator/state", timeout=10).json()["row_cap"] == 2
