"""The handler end to end: moto over HTTP and the Kaltura emulator over HTTP, on 127.0.0.1."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

import pytest
import requests

from kaltura_export.catalogue import ATTENDEES, BREAKOUT_ROOMS, REPORTS, ROOMS, Report
from kaltura_export.errors import EventError
from kaltura_export.run import RunFailed
from local.aws import MotoServer, Stack, received
from local.kaltura_emulator import KalturaEmulator
from tests.conftest import load_event

# events/scheduled.json: 2026-12-03T02:00Z; daily in UTC with LOOKBACK=1 → the whole of 2026-12-02
FROM_S, TO_S = 1796169600, 1796256000
STAMP = "20261202T000000Z_20261203T000000Z"


def key(report: Report, pid: int = 4242, dt: str = "2026-12-02", stamp: str = STAMP) -> str:
    return f"kaltura/{report.name}/partner_id={pid}/dt={dt}/{report.name}_daily_{stamp}.csv"


def read(moto: MotoServer, bucket: str, k: str) -> bytes:
    body: bytes = moto.client("s3").get_object(Bucket=bucket, Key=k)["Body"].read()
    return body


def rows_of(body: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


def unquote(cell: str) -> str:
    """A wire cell as a CSV reader sees it (names arrive pre-quoted)."""
    return next(csv.reader([cell]))[0] if cell.startswith('"') else cell


def expected_rows(emu: KalturaEmulator, report: Report, filters: dict[str, list[str]] | None = None) -> list[list[str]]:
    """The oracle: the emulator's own data for the window, unquoted, in the catalogue's columns."""
    wire_columns = emu.columns(report.id)
    out = []
    for cells in emu.rows_for(report.id, FROM_S, TO_S, filters):
        by_name = dict(zip(wire_columns, (unquote(c) for c in cells), strict=True))
        out.append([by_name.get(c, "") for c in report.columns])
    return out


def keys(moto: MotoServer, bucket: str, prefix: str = "") -> list[str]:
    pages = moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def test_scheduled_run_lands_three_correct_csvs_and_one_notification(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    summary = invoke(load_event("scheduled.json"), stack, LOOKBACK="1")

    assert summary["status"] == "SUCCEEDED" and summary["trigger"] == "schedule"
    assert summary["partners"] == [4242]
    assert [u["report"] for u in summary["reports"]] == ["rooms", "attendees", "breakout_rooms"]
    for unit, report in zip(summary["reports"], REPORTS, strict=True):
        body = read(moto_server, stack.bucket, key(report))
        header, rows = rows_of(body)
        assert header == list(report.columns)
        assert rows == expected_rows(emulator, report)
        assert len(rows) > 0
        assert not body.startswith(b"\xef\xbb\xbf") and b"\r" not in body
        assert unit["rows"] == len(rows) and unit["bytes"] == len(body)
        assert unit["s3_uri"] == f"s3://{stack.bucket}/{key(report)}"
        assert (unit["window_start"], unit["window_end"]) == ("2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z")
        manifest = json.loads(
            read(moto_server, stack.bucket, key(report).replace("kaltura/", "kaltura/_manifests/", 1)[:-4] + ".json")
        )
        assert manifest["sha256"] == hashlib.sha256(body).hexdigest()
        assert (manifest["rows"], manifest["bytes"], manifest["status"]) == (len(rows), len(body), "SUCCEEDED")
        assert manifest["columns"] == list(report.columns) and manifest["attempts"] == 1

    run = json.loads(read(moto_server, stack.bucket, f"kaltura/_runs/{summary['run_id']}.json"))
    assert run == summary

    notes = received(moto_server, stack)
    assert len(notes) == 1
    assert notes[0]["Subject"].startswith("SUCCEEDED")
    assert notes[0]["MessageAttributes"]["status"]["Value"] == "SUCCEEDED"
    assert json.loads(notes[0]["Message"]) == summary  # SQS subscribers get `default`
    email = json.loads(moto_server.sent_notifications(stack.topic_arn)[-1][1])["email"]
    assert email.startswith("SUCCEEDED: 3 report exports landed")


def test_default_lookback_exports_three_days_of_three_reports(
    invoke: Any, stack: Stack, moto_server: MotoServer
) -> None:
    summary = invoke(load_event("scheduled.json"), stack)
    assert len(summary["reports"]) == 9 and summary["status"] == "SUCCEEDED"
    data = [k for k in keys(moto_server, stack.bucket, "kaltura/") if k.endswith(".csv")]
    assert {k.split("/dt=")[1][:10] for k in data} == {"2026-11-30", "2026-12-01", "2026-12-02"}
    assert len(data) == 9


def test_rerun_overwrites_the_same_keys_with_identical_bytes(
    invoke: Any, stack: Stack, moto_server: MotoServer
) -> None:
    event = load_event("scheduled.json")
    invoke(event, stack, LOOKBACK="1")
    first = {
        k: read(moto_server, stack.bucket, k) for k in keys(moto_server, stack.bucket, "kaltura/") if k.endswith(".csv")
    }
    invoke(event, stack, LOOKBACK="1")
    second = {
        k: read(moto_server, stack.bucket, k) for k in keys(moto_server, stack.bucket, "kaltura/") if k.endswith(".csv")
    }
    assert first == second and len(first) == 3
    versions = moto_server.client("s3").list_object_versions(Bucket=stack.bucket, Prefix="kaltura/rooms/")["Versions"]
    assert len(versions) == 2 and {v["Key"] for v in versions} == {key(ROOMS)}


def test_attendees_with_commas_quotes_unicode_and_bom_land_as_rfc4180(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    raw = requests.post(
        f"{emulator.url}/api_v3/service/report/action/getCsvFromStringParams",
        data={"ks": emulator.mint_ks(), "id": 6001, "params": f"from_date={FROM_S};to_date={TO_S}"},
        timeout=10,
    ).content
    # what Kaltura sends: a BOM, commas turned into spaces, quotes inside raw values, non-ASCII names
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")
    assert "  " in text and '"' in text and any(ord(ch) > 127 for ch in text)

    invoke({"from": "2026-12-02", "to": "2026-12-02", "reports": ["attendees"]}, stack)
    body = read(moto_server, stack.bucket, key(ATTENDEES))
    header, rows = rows_of(body)
    assert rows == expected_rows(emulator, ATTENDEES)
    names = [r[3] for r in rows]
    assert any('"' in n for n in names) and any(any(ord(ch) > 127 for ch in n) for n in names)
    # the landed bytes are the canonical QUOTE_MINIMAL encoding of those values
    canonical = io.StringIO()
    csv.writer(canonical, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerows([header, *rows])
    assert body == canonical.getvalue().encode("utf-8")


def test_an_added_column_lands_the_catalogue_columns_and_reports_drift(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.faults.add("ADD_COLUMN", report_id=6001, times=None, name="meeting_new_metric")
    summary = invoke(load_event("scheduled.json"), stack, LOOKBACK="1", REPORTS="attendees")
    unit = summary["reports"][0]
    assert unit["status"] == "SUCCEEDED" and unit["drift"] == {"added": ["meeting_new_metric"]}
    header, rows = rows_of(read(moto_server, stack.bucket, key(ATTENDEES)))
    assert header == list(ATTENDEES.columns)
    assert rows == expected_rows(emulator, ATTENDEES)
    manifest_key = key(ATTENDEES).replace("kaltura/", "kaltura/_manifests/", 1)[:-4] + ".json"
    manifest = json.loads(read(moto_server, stack.bucket, manifest_key))
    assert manifest["drift"]["added"] == ["meeting_new_metric"]
    assert "meeting_new_metric" in manifest["source_columns"]
    email = json.loads(moto_server.sent_notifications(stack.topic_arn)[-1][1])["email"]
    assert "added (not landed) meeting_new_metric" in email


def test_a_dropped_and_an_excluded_column_land_empty(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.faults.add("DROP_COLUMN", report_id=6001, times=None, name="user_type")
    summary = invoke(
        load_event("scheduled.json"), stack, LOOKBACK="1", REPORTS="attendees", EXCLUDED_FIELDS="user_email"
    )
    assert summary["reports"][0]["drift"] == {"dropped": ["user_type"]}
    header, rows = rows_of(read(moto_server, stack.bucket, key(ATTENDEES)))
    assert header == list(ATTENDEES.columns) and rows
    assert all(r[4] == "" and r[5] == "" for r in rows)
    assert emulator.calls[-1].excluded_fields == ["user_email"]
    assert all("@" not in cell for r in rows for cell in r[4:5])


def test_entry_ids_filter_all_three_reports(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    rooms = emulator.room_ids(FROM_S, TO_S)
    with_breakouts = sorted({cells[0] for cells in emulator.rows_for(6002, FROM_S, TO_S)})
    assert len(with_breakouts) >= 2 and len(rooms) >= 3
    # one room with breakouts and one without, so every report's filtered rows are a strict, non-empty subset
    chosen = [with_breakouts[0], next(r for r in rooms if r not in with_breakouts)]
    summary = invoke(load_event("scheduled.json"), stack, LOOKBACK="1", ENTRY_IDS=",".join(chosen))
    assert summary["status"] == "SUCCEEDED" and summary["warnings"] == []
    sent = {c.report_id: c.params for c in emulator.calls}
    assert sent[6000]["entry_ids"] == sent[6001]["entry_ids"] == sent[6002]["parentEntryIds"] == ",".join(chosen)
    for report, filter_key in ((ROOMS, "entry_ids"), (ATTENDEES, "entry_ids"), (BREAKOUT_ROOMS, "parentEntryIds")):
        _, rows = rows_of(read(moto_server, stack.bucket, key(report)))
        assert rows == expected_rows(emulator, report, {filter_key: chosen})
        assert 0 < len(rows) < len(expected_rows(emulator, report))
        column = report.columns.index(report.room_column)
        assert {r[column] for r in rows} <= set(chosen)


def test_a_filter_a_report_does_not_take_is_a_warning(invoke: Any, stack: Stack, emulator: KalturaEmulator) -> None:
    summary = invoke(load_event("scheduled.json"), stack, LOOKBACK="1", USER_IDS="s1001")
    assert summary["status"] == "SUCCEEDED"
    assert summary["warnings"] == [
        "rooms (6000) does not take USER_IDS: exported without that filter",
        "breakout_rooms (6002) does not take USER_IDS: exported without that filter",
    ]
    assert {c.report_id: "user_ids" in c.params for c in emulator.calls} == {6000: False, 6001: True, 6002: False}


@pytest.mark.parametrize("shape", ["ks", "admin_secret", "bare_ks"])
def test_every_credentials_shape_works(shape: str, invoke: Any, make_stack: Any, emulator: KalturaEmulator) -> None:
    secret: Any = {
        "ks": {"ks": emulator.mint_ks()},
        "admin_secret": {"partner_id": 4242, "admin_secret": emulator.admin_secret, "expiry": 900},
        "bare_ks": emulator.mint_ks(),
    }[shape]
    stack = make_stack(secret)
    summary = invoke(load_event("scheduled.json"), stack, LOOKBACK="1", REPORTS="rooms")
    assert summary["status"] == "SUCCEEDED" and summary["partners"] == [4242]


def test_the_ks_never_travels_in_a_url(invoke: Any, stack: Stack, emulator: KalturaEmulator) -> None:
    invoke(load_event("scheduled.json"), stack, LOOKBACK="1")
    assert emulator.calls and all(c.method == "POST" for c in emulator.calls)
    assert all(c.ks for c in emulator.calls)


def test_invalid_event_writes_nothing_and_notifies_failed(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    with pytest.raises(EventError, match=r"from \(2026-12-05\) is after to \(2026-12-01\)"):
        invoke({"from": "2026-12-05", "to": "2026-12-01"}, stack)
    assert keys(moto_server, stack.bucket) == []
    assert emulator.calls == []
    notes = received(moto_server, stack)
    assert len(notes) == 1 and notes[0]["Subject"].startswith("FAILED")
    email = json.loads(moto_server.sent_notifications(stack.topic_arn)[-1][1])["email"]
    assert email.splitlines()[0] == "FAILED: the export did not run. from (2026-12-05) is after to (2026-12-01)"


def test_bad_settings_fail_fast_naming_the_variable_and_notify(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    from kaltura_export.errors import ConfigError

    with pytest.raises(ConfigError, match='PERIOD must be one of hourly, daily, weekly, monthly; got "dayly"'):
        invoke(load_event("scheduled.json"), stack, PERIOD="dayly")
    assert keys(moto_server, stack.bucket) == [] and emulator.calls == []
    notes = received(moto_server, stack)
    assert len(notes) == 1 and notes[0]["Subject"] == "FAILED: kaltura-export run did not start (CONFIG_ERROR)"


def test_a_missing_secret_fails_every_unit_naming_it(invoke: Any, stack: Stack, moto_server: MotoServer) -> None:
    with pytest.raises(RunFailed) as info:
        invoke(load_event("scheduled.json"), stack, LOOKBACK="1", KALTURA_SECRET_ARN="kaltura/missing")
    summary = info.value.summary.to_dict()
    assert {u["status"] for u in summary["reports"]} == {"FAILED"}
    error = summary["reports"][0]["error"]
    assert error["code"] == "SECRET_ERROR"
    assert "secret kaltura/missing could not be read" in error["message"] and "ResourceNotFound" in error["message"]
    assert [k for k in keys(moto_server, stack.bucket) if not k.startswith("kaltura/_runs/")] == []


def _cap_for_split(emulator: KalturaEmulator) -> int:
    """A cap above the rooms report and above any one room's attendees, but below all attendees."""
    rooms = len(emulator.rows_for(6000, FROM_S, TO_S))
    per_room: dict[str, int] = {}
    for cells in emulator.rows_for(6001, FROM_S, TO_S):
        per_room[cells[0]] = per_room.get(cells[0], 0) + 1
    cap = max(rooms, *per_room.values()) + 1
    assert cap < sum(per_room.values()) / 2, "the data must be able to overflow the cap"
    return cap


def test_attendees_over_the_cap_are_split_by_room_and_every_row_lands_exactly_once(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    cap = _cap_for_split(emulator)
    emulator.row_cap = cap
    summary = invoke(load_event("scheduled.json"), stack, LOOKBACK="1", REPORTS="attendees", ROW_CAP=str(cap))
    unit = summary["reports"][0]
    assert unit["status"] == "SUCCEEDED"
    header, rows = rows_of(read(moto_server, stack.bucket, key(ATTENDEES)))
    expected = expected_rows(emulator, ATTENDEES)
    assert header == list(ATTENDEES.columns)
    assert sorted(rows) == sorted(expected) and len(rows) == len(expected) > cap
    manifest_key = key(ATTENDEES).replace("kaltura/", "kaltura/_manifests/", 1)[:-4] + ".json"
    split = json.loads(read(moto_server, stack.bucket, manifest_key))["split"]
    assert split["by"] == "entry_ids" and len(split["parts"]) >= 2
    assert sum(p["rows"] for p in split["parts"]) == len(rows) and all(p["rows"] < cap for p in split["parts"])
    calls = [c for c in emulator.calls if c.report_id == 6001]
    assert calls[0].params.get("entry_ids") is None and all(c.params.get("entry_ids") for c in calls[1:])
    assert any(c.report_id == 6000 for c in emulator.calls)  # the split unit fetched the rooms itself


def test_a_filter_kaltura_ignores_during_a_split_fails_and_lands_nothing(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    cap = _cap_for_split(emulator)
    emulator.row_cap = cap
    emulator.faults.add("IGNORE_FILTER", report_id=6001, times=None)
    with pytest.raises(RunFailed) as info:
        invoke(load_event("scheduled.json"), stack, LOOKBACK="1", REPORTS="attendees", ROW_CAP=str(cap))
    unit = info.value.summary.reports[0]
    assert unit.status == "FAILED" and unit.error is not None and unit.error.code == "SPLIT_FAILED"
    assert "Kaltura ignored the entry_ids filter" in unit.error.message
    assert keys(moto_server, stack.bucket, "kaltura/attendees/") == []
    assert keys(moto_server, stack.bucket, "kaltura/_manifests/") == []


def test_rooms_at_the_cap_fail_loudly_and_attendees_cannot_split(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    rooms = len(emulator.rows_for(6000, FROM_S, TO_S))
    emulator.row_cap = rooms
    with pytest.raises(RunFailed) as info:
        invoke(load_event("scheduled.json"), stack, LOOKBACK="1", REPORTS="rooms,attendees", ROW_CAP=str(rooms))
    units = {u.report: u for u in info.value.summary.reports}
    assert units["rooms"].error is not None and units["rooms"].error.code == "ROW_CAP_REACHED"
    assert f"cap of {rooms} rows" in units["rooms"].error.message
    assert units["attendees"].error is not None and units["attendees"].error.code == "SPLIT_FAILED"
    assert "rooms report of the window also reached the cap" in units["attendees"].error.message
    assert [k for k in keys(moto_server, stack.bucket) if not k.startswith("kaltura/_runs/")] == []


def test_metrics_per_report_and_per_run(invoke: Any, stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    summary = invoke(load_event("scheduled.json"), stack, LOOKBACK="1")
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    per_report = {m["report"]: m for m in emf if "report" in m}
    assert set(per_report) == {"rooms", "attendees", "breakout_rooms"}
    for unit in summary["reports"]:
        m = per_report[unit["report"]]
        assert m["ReportRows"] == [float(unit["rows"])] and m["ReportBytes"] == [float(unit["bytes"])]
        assert m["ReportFailures"] == [0.0] and "ReportDuration" in m
    run = next(m for m in emf if "SuccessfulExports" in m)
    assert run["SuccessfulExports"] == [1.0] and run["FailedUnits"] == [0.0]


def test_a_manual_run_does_not_count_as_a_scheduled_success(
    invoke: Any, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = invoke({"from": "2026-12-02", "to": "2026-12-02", "reports": ["rooms"]}, stack)
    assert summary["status"] == "SUCCEEDED"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    run = next(m for m in emf if "FailedExports" in m)
    assert run["FailedExports"] == [0.0] and "SuccessfulExports" not in run


def test_logs_are_structured_and_correlated_by_execution_id(invoke: Any, stack: Stack) -> None:
    import app

    # Powertools' handler keeps the stream it found when the module loaded; point it at a buffer of ours
    # assigned rather than setStream(), which flushes the old stream: a capture pytest may have closed already
    buffer = io.StringIO()
    handler = app.logger.registered_handler
    previous, handler.stream = handler.stream, buffer
    try:
        invoke(load_event("scheduled.json"), stack, LOOKBACK="1")
    finally:
        handler.stream = previous
    logs = [json.loads(line) for line in buffer.getvalue().splitlines()]
    landed = [entry for entry in logs if entry["message"] == "unit landed"]
    assert len(landed) == 3
    assert {entry["correlation_id"] for entry in logs} == {"c0ffee00-1234-4bcd-8ef0-0123456789ab"}
    assert all({"report", "rows", "bytes", "s3_key"} <= set(entry) for entry in landed)


def _everything_written(moto: MotoServer, stack: Stack) -> list[str]:
    """Every byte the run left behind in AWS: objects in the bucket and messages on the topic."""
    texts = [read(moto, stack.bucket, k).decode("utf-8", "replace") for k in keys(moto, stack.bucket)]
    texts += [repr(n) for n in moto.sent_notifications(stack.topic_arn)]
    return texts


def test_invalid_ks_fails_that_report_lands_nothing_and_the_ks_leaks_nowhere(
    invoke: Any,
    stack: Stack,
    moto_server: MotoServer,
    emulator: KalturaEmulator,
    app_token: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging
    import traceback

    import app

    # the emulator answers every attendees call with INVALID_KS, echoing the KS as the real server does
    emulator.faults.add("INVALID_KS", report_id=6001, times=None)
    buffer = io.StringIO()
    handler = app.logger.registered_handler
    previous, handler.stream = handler.stream, buffer
    app.logger.setLevel("DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(RunFailed) as info:
            invoke(load_event("scheduled.json"), stack, LOOKBACK="1")
    finally:
        handler.stream = previous
        app.logger.setLevel("INFO")

    units = {u.report: u for u in info.value.summary.reports}
    assert units["rooms"].status == units["breakout_rooms"].status == "SUCCEEDED"
    failed = units["attendees"]
    assert failed.status == "FAILED" and failed.error is not None and failed.error.code == "INVALID_KS"
    assert f"credentials rejected: check secret {stack.secret_id}" in failed.error.message
    assert keys(moto_server, stack.bucket, "kaltura/attendees/") == []
    # the echo really happened: Kaltura's answer carried a KS
    assert [c.outcome for c in emulator.calls if c.report_id == 6001] == ["INVALID_KS", "INVALID_KS"]

    secrets = [*emulator.issued_ks, app_token["app_token"]]
    assert len(emulator.issued_ks) >= 2  # a widget KS and at least one session KS
    haystacks = {
        "logs": buffer.getvalue(),
        "captured log records": caplog.text,
        "exception": str(info.value) + "".join(traceback.format_exception(info.value)),
        "summary": json.dumps(info.value.summary.to_dict()),
        **{f"aws {i}": t for i, t in enumerate(_everything_written(moto_server, stack))},
    }
    assert "credentials rejected" in haystacks["summary"]
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"
    email = json.loads(moto_server.sent_notifications(stack.topic_arn)[-1][1])["email"]
    assert email.startswith("FAILED: 1 of 3 report exports failed")
    assert "INVALID_KS after 2 attempt(s)" in email


def test_a_revoked_session_is_refreshed_once_and_the_unit_succeeds(
    invoke: Any, stack: Stack, emulator: KalturaEmulator
) -> None:
    emulator.faults.add("INVALID_KS", report_id=6001, times=1)
    summary = invoke(load_event("scheduled.json"), stack, LOOKBACK="1")
    assert summary["status"] == "SUCCEEDED"
    attendees = [c for c in emulator.calls if c.report_id == 6001]
    assert [c.outcome for c in attendees] == ["INVALID_KS", "csv"]
    assert attendees[0].ks != attendees[1].ks  # a new session, not the same KS again


def test_bad_credentials_fail_at_once_without_a_retry_storm(
    invoke: Any, make_stack: Any, emulator: KalturaEmulator
) -> None:
    stack = make_stack({"partner_id": 4242, "admin_secret": "0" * 32})
    with pytest.raises(RunFailed) as info:
        invoke(load_event("scheduled.json"), stack, LOOKBACK="1")
    errors = {u.error.code for u in info.value.summary.reports if u.error}
    assert errors == {"START_SESSION_ERROR"}
    assert emulator.calls == []  # no report was even asked for
    assert "0" * 32 not in json.dumps(info.value.summary.to_dict())


def test_two_runs_of_the_same_window_at_once_leave_one_object_and_a_matching_manifest(
    stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import boto3

    from kaltura_export.run import Services, handle
    from kaltura_export.settings import Settings

    emulator.latency = 0.3  # both runs are in flight at the same time
    settings = Settings.from_env(
        {**stack.env(), "KALTURA_SERVICE_URL": emulator.url, "LOOKBACK": "1", "RETRY_BASE_DELAY": "0"}
    )
    session = boto3.session.Session()

    def read_secret(name: str, force: bool) -> str:
        return str(session.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])

    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def one_run() -> None:
        services = Services(s3=session.client("s3"), sns=lambda: session.client("sns"), read_secret=read_secret)
        barrier.wait()
        results.append(handle(load_event("scheduled.json"), settings, services))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 2
    outcomes = sorted(u["status"] for r in results for u in r["reports"])
    assert "FAILED" not in outcomes and outcomes.count("SUCCEEDED") >= 3, outcomes
    s3 = moto_server.client("s3")
    for report in REPORTS:
        k = key(report)
        body = read(moto_server, stack.bucket, k)
        head = s3.head_object(Bucket=stack.bucket, Key=k)
        manifest_key = k.replace("kaltura/", "kaltura/_manifests/", 1)[:-4] + ".json"
        manifest = json.loads(read(moto_server, stack.bucket, manifest_key))
        assert manifest["s3"]["version_id"] == head["VersionId"]
        assert manifest["sha256"] == hashlib.sha256(body).hexdigest()
        assert len(rows_of(body)[1]) == manifest["rows"]
    assert s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == []


def test_a_shrinking_re_export_lands_but_warns(
    invoke: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    event = load_event("scheduled.json")
    first = invoke(event, stack, LOOKBACK="1", REPORTS="attendees")
    before = first["reports"][0]["rows"]
    one_room = emulator.room_ids(FROM_S, TO_S)[0]
    second = invoke(event, stack, LOOKBACK="1", REPORTS="attendees", ENTRY_IDS=one_room)
    after = second["reports"][0]["rows"]
    assert second["status"] == "SUCCEEDED" and 0 < after < before / 2
    expected = f"attendees 2026-12-02T00:00:00Z - 2026-12-03T00:00:00Z: {after} rows replaced {before} (fewer than 50%)"
    assert any(w.startswith(expected) for w in second["warnings"])
    assert len(rows_of(read(moto_server, stack.bucket, key(ATTENDEES)))[1]) == after
    email = json.loads(moto_server.sent_notifications(stack.topic_arn)[-1][1])["email"]
    assert expected in email
    third = invoke(event, stack, LOOKBACK="1", REPORTS="attendees", ENTRY_IDS=one_room, SHRINK_THRESHOLD="0")
    assert third["warnings"] == []
