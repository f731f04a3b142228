"""Fault injection ("Nothing lost, nothing leaked"): the real handler against moto and the Kaltura emulator over HTTP
on 127.0.0.1, one fault at a time.

Every test asserts what landed in S3 (objects, versions, multipart uploads), the manifests, the run summary or the
exception, the notification and the calls the emulator saw. Every invocation runs with the root logger, caplog and
Powertools at DEBUG; after each test, every captured byte (logs, stdout, exceptions, summaries, every object version
in the test's buckets, every SNS message) is searched for every secret the test handled (each KS the emulator issued,
its admin secret, the app token, and any secret value the test stored).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import socket
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from kaltura_export.catalogue import ATTENDEES, BREAKOUT_ROOMS, ROOMS, Report
from kaltura_export.errors import KALTURA_ACTIONS, ConfigError, EventError
from kaltura_export.run import RunFailed
from kaltura_export.settings import VARIABLES
from kaltura_export.sink import PART_SIZE
from local.aws import MotoServer, Stack, create_stack, received
from local.kaltura_emulator import KalturaEmulator
from local.lambda_context import LocalContext

PID = 4242
DAY = 86400
# 2026-12-02, daily in UTC: the window of every test unless said otherwise
FROM_S, TO_S = 1796169600, 1796169600 + DAY
STAMP = "20261202T000000Z_20261203T000000Z"
ONE_DAY = {"from": "2026-12-02", "to": "2026-12-02"}
SCHEDULED = {"scheduled_time": "2026-12-03T02:00:00Z", "execution_id": "c0ffee00-1234-4bcd-8ef0-0123456789ab"}

_ENV = (*VARIABLES, "AWS_ENDPOINT_URL_SNS")
_NOISY = ("botocore", "boto3", "urllib3", "s3transfer")


# --- helpers -------------------------------------------------------------------------------------------------------


def data_key(report: Report, dt: str = "2026-12-02", stamp: str = STAMP) -> str:
    return f"kaltura/{report.name}/partner_id={PID}/dt={dt}/{report.name}_daily_{stamp}.csv"


def manifest_key(report: Report, dt: str = "2026-12-02", stamp: str = STAMP) -> str:
    return data_key(report, dt, stamp).replace("kaltura/", "kaltura/_manifests/", 1)[:-4] + ".json"


def keys(moto: MotoServer, bucket: str, prefix: str = "") -> list[str]:
    pages = moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def read(moto: MotoServer, bucket: str, key: str, version: str | None = None) -> bytes:
    extra = {"VersionId": version} if version else {}
    body: bytes = moto.client("s3").get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    return body


def versions(moto: MotoServer, bucket: str, key: str) -> list[dict[str, Any]]:
    resp = moto.client("s3").list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in resp.get("Versions", []) if v["Key"] == key]


def open_uploads(moto: MotoServer, bucket: str) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = moto.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def unquote(cell: str) -> str:
    """A wire cell as a CSV reader sees it (names arrive pre-quoted)."""
    return next(csv.reader([cell]))[0] if cell.startswith('"') else cell


def oracle_rows(
    emu: KalturaEmulator, report: Report, filters: dict[str, list[str]] | None = None, frm: int = FROM_S
) -> list[list[str]]:
    """The emulator's own data for the window, unquoted, in the catalogue's columns (before any row cap)."""
    wire = emu.columns(report.id)
    out = []
    for cells in emu.rows_for(report.id, frm, frm + DAY, filters):
        by_name = dict(zip(wire, (unquote(c) for c in cells), strict=True))
        out.append([by_name.get(c, "") for c in report.columns])
    return out


def canonical(report: Report, rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerows([report.columns, *rows])
    return out.getvalue().encode("utf-8")


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))[1:]


def report_calls(emu: KalturaEmulator, report_id: int) -> list[Any]:
    return sorted((c for c in emu.calls if c.report_id == report_id), key=lambda c: c.at)


def email_of(moto: MotoServer, stack: Stack) -> str:
    text: str = json.loads(moto.sent_notifications(stack.topic_arn)[-1][1])["email"]
    return text


def one_notification(moto: MotoServer, stack: Stack, status: str) -> dict[str, Any]:
    notes = received(moto, stack)
    assert len(notes) == 1, notes
    assert notes[0]["Subject"].startswith(status)
    assert notes[0]["MessageAttributes"]["status"]["Value"] == status
    return notes[0]


def units_of(exc: RunFailed) -> dict[str, Any]:
    return {u.report: u for u in exc.summary.reports}


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def s3_client() -> Any:
    """The S3 client the handler caches for this process's endpoint (the env is the test session's)."""
    import app

    return app._build_services().s3


# --- leak capture --------------------------------------------------------------------------------------------------


class Leaks:
    """Captures every byte an invocation emits at DEBUG and, after the test, searches it and AWS for secrets."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.root = io.StringIO()
        self.powertools = io.StringIO()
        self.texts: dict[str, str] = {}
        self.secrets: set[str] = set()

    def secret(self, value: str) -> str:
        """Something the test stored that must never come back out."""
        self.secrets.add(value)
        return value

    def note(self, where: str, value: Any) -> None:
        if isinstance(value, BaseException):
            text = str(value) + "".join(traceback.format_exception(value))
            if isinstance(value, RunFailed):
                text += json.dumps(value.summary.to_dict())
        else:
            text = value if isinstance(value, str) else json.dumps(value)
        self.texts[f"{where} #{len(self.texts)}"] = text

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Root logger and Powertools at DEBUG, each into a buffer of ours, for one invocation."""
        import app

        root = logging.getLogger()
        handler = logging.StreamHandler(self.root)
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        root_level = root.level
        noisy = {name: logging.getLogger(name).level for name in _NOISY}
        pt_level = app.logger.log_level
        # assigned, not setStream(): that flushes the old stream, which may be a capture pytest already closed
        pt_handler = app.logger.registered_handler
        previous = pt_handler.stream
        pt_handler.stream = self.powertools
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        app.logger.setLevel("DEBUG")
        try:
            with self.caplog.at_level(logging.DEBUG):
                yield
        finally:
            pt_handler.stream = previous
            app.logger.setLevel(pt_level)
            root.removeHandler(handler)
            root.setLevel(root_level)
            for name, level in noisy.items():
                logging.getLogger(name).setLevel(level)

    def logs(self) -> list[dict[str, Any]]:
        """Powertools' JSON log lines so far."""
        return [json.loads(line) for line in self.powertools.getvalue().splitlines() if line.startswith("{")]


@pytest.fixture(autouse=True)
def leaks(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    moto_server: MotoServer,
    emulator: KalturaEmulator,
    app_token: dict[str, Any],
) -> Iterator[Leaks]:
    s3, sns = moto_server.client("s3"), moto_server.client("sns")
    buckets_before = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    topics_before = {t["TopicArn"] for t in sns.list_topics().get("Topics", [])}
    guard = Leaks(caplog)
    yield guard

    secrets = {*emulator.issued_ks, emulator.admin_secret, app_token["app_token"], *guard.secrets}
    out, err = capsys.readouterr()
    haystacks = {
        "root logger at DEBUG": guard.root.getvalue(),
        "Powertools logs at DEBUG": guard.powertools.getvalue(),
        "caplog": caplog.text,
        "stdout": out,
        "stderr": err,
        **guard.texts,
    }
    for bucket in {b["Name"] for b in s3.list_buckets().get("Buckets", [])} - buckets_before:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in page.get("Versions", []):
                body = read(moto_server, bucket, v["Key"], v["VersionId"])
                haystacks[f"s3://{bucket}/{v['Key']}?versionId={v['VersionId']}"] = body.decode("utf-8", "replace")
    for topic in {t["TopicArn"] for t in sns.list_topics().get("Topics", [])} - topics_before:
        for i, note in enumerate(moto_server.sent_notifications(topic)):
            haystacks[f"SNS {topic} #{i}"] = repr(note)
    leaked = [(where, s[:8] + "…") for where, text in haystacks.items() for s in secrets if s and s in text]
    assert not leaked, f"secrets leaked: {leaked}"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, emulator: KalturaEmulator, leaks: Leaks) -> Callable[..., dict[str, Any]]:
    """The real handler with the exporter's environment for a stack; ``None`` unsets a variable; ``timeout`` is the
    Lambda context's (seconds). Everything it returns or raises is kept for the leak search."""
    import app

    def call(event: Any, stack: Stack, *, timeout: float = 900.0, **env: str | None) -> dict[str, Any]:
        values: dict[str, str | None] = {
            **stack.env(),
            "KALTURA_SERVICE_URL": emulator.url,
            "RETRY_BASE_DELAY": "0",
            "TIMEZONE": "UTC",
            **env,
        }
        for k in _ENV:
            monkeypatch.delenv(k, raising=False)
        for k, v in values.items():
            if v is None:
                monkeypatch.delenv(k, raising=False)
            else:
                monkeypatch.setenv(k, v)
        with leaks.capture():
            try:
                result: dict[str, Any] = app.lambda_handler(event, LocalContext(timeout=timeout))
            except BaseException as exc:
                leaks.note("exception", exc)
                raise
        leaks.note("summary", result)
        return result

    return call


def test_the_leak_search_sees_what_botocore_logs_at_debug(
    run: Any, stack: Stack, moto_server: MotoServer, leaks: Leaks
) -> None:
    """During a run botocore is held at INFO (no response body is logged, though the root logger is at DEBUG);
    outside one, the same capture does see Secrets Manager's answer: the search would find a leak."""
    run(ONE_DAY, stack, REPORTS="rooms")
    assert "Response body" not in leaks.root.getvalue() and "Response body" not in leaks.caplog.text

    sm = moto_server.client("secretsmanager")
    canary = "canary-" + uuid.uuid4().hex[:12]  # short and unknown to the redactor
    arn = sm.create_secret(Name=f"{stack.bucket}/canary", SecretString=canary)["ARN"]
    with leaks.capture():  # restores botocore's level on exit
        logging.getLogger("botocore").setLevel(logging.DEBUG)  # as it would be without the handler's hardening
        sm.get_secret_value(SecretId=arn)
    assert "Response body" in leaks.root.getvalue()
    assert canary in leaks.root.getvalue() and canary in leaks.caplog.text


# --- retries: transient faults ------------------------------------------------------------------------------------

TRANSIENT = [
    # (fault, outcome recorded by the emulator, code, a fragment of the message)
    ("HTTP_500", "HTTP_500", "HTTP_ERROR", "report 6001: HTTP 500 from Kaltura"),
    ("ACTION_BLOCKED", "ACTION_BLOCKED", "ACTION_BLOCKED", 'Action "getCsvFromStringParams" in service "report" is'),
    ("DRUID_QUERY_TIMED_OUT", "DRUID_QUERY_TIMED_OUT", "DRUID_QUERY_TIMED_OUT", "report 6001: Query timed out"),
    ("DROP_MID_BODY", "DROP_MID_BODY", "TRUNCATED_BODY", "report 6001: the body was cut short"),
    ("SHORT_BODY", "SHORT_BODY", "TRUNCATED_BODY", "report 6001: the body was cut short"),
]


@pytest.mark.parametrize(("fault", "outcome", "code", "fragment"), TRANSIENT, ids=[t[0] for t in TRANSIENT])
def test_a_transient_fault_three_times_is_retried_and_the_fourth_attempt_lands_the_full_body(
    fault: str, outcome: str, code: str, fragment: str, run: Any, stack: Stack, moto_server: MotoServer,
    emulator: KalturaEmulator,
) -> None:  # fmt: skip
    emulator.faults.add(fault, report_id=6001, times=3)
    summary = run(ONE_DAY, stack, REPORTS="attendees")

    assert summary["status"] == "SUCCEEDED"
    assert [c.outcome for c in report_calls(emulator, 6001)] == [outcome] * 3 + ["csv"]
    body = read(moto_server, stack.bucket, data_key(ATTENDEES))
    assert body == canonical(ATTENDEES, oracle_rows(emulator, ATTENDEES))
    assert len(versions(moto_server, stack.bucket, data_key(ATTENDEES))) == 1
    manifest = json.loads(read(moto_server, stack.bucket, manifest_key(ATTENDEES)))
    assert (manifest["attempts"], manifest["rows"], manifest["bytes"]) == (4, summary["reports"][0]["rows"], len(body))
    one_notification(moto_server, stack, "SUCCEEDED")


@pytest.mark.parametrize(("fault", "outcome", "code", "fragment"), TRANSIENT, ids=[t[0] for t in TRANSIENT])
def test_a_transient_fault_that_persists_fails_after_four_attempts_and_lands_nothing(
    fault: str, outcome: str, code: str, fragment: str, run: Any, stack: Stack, moto_server: MotoServer,
    emulator: KalturaEmulator,
) -> None:  # fmt: skip
    emulator.faults.add(fault, report_id=6001, times=None)
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="rooms,attendees")

    units = units_of(info.value)
    assert units["rooms"].status == "SUCCEEDED"
    failed = units["attendees"]
    assert failed.status == "FAILED" and failed.error is not None
    assert (failed.error.code, failed.error.attempts) == (code, 4)
    assert fragment in failed.error.message
    assert (failed.rows, failed.bytes, failed.s3_uri) == (None, None, None)
    assert [c.outcome for c in report_calls(emulator, 6001)] == [outcome] * 4
    assert keys(moto_server, stack.bucket, "kaltura/attendees/") == []
    assert keys(moto_server, stack.bucket, "kaltura/_manifests/attendees/") == []
    assert keys(moto_server, stack.bucket, "kaltura/rooms/") == [data_key(ROOMS)]
    run_doc = json.loads(read(moto_server, stack.bucket, f"kaltura/_runs/{info.value.summary.run_id}.json"))
    assert run_doc == info.value.summary.to_dict()
    one_notification(moto_server, stack, "FAILED")
    email = email_of(moto_server, stack)
    assert email.splitlines()[0].startswith("FAILED: 1 of 2 report exports failed; the others landed.")
    assert f"{code} after 4 attempt(s)" in email
    assert KALTURA_ACTIONS[code] in email


def test_internal_serverl_error_is_retried_once_then_lands(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.faults.add("INTERNAL_SERVERL_ERROR", report_id=6001, times=1)
    summary = run(ONE_DAY, stack, REPORTS="attendees")
    assert summary["status"] == "SUCCEEDED"
    assert [c.outcome for c in report_calls(emulator, 6001)] == ["INTERNAL_SERVERL_ERROR", "csv"]
    assert json.loads(read(moto_server, stack.bucket, manifest_key(ATTENDEES)))["attempts"] == 2


def test_internal_serverl_error_twice_fails_after_two_attempts(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.faults.add("INTERNAL_SERVERL_ERROR", report_id=6001, times=None)
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="attendees")
    error = units_of(info.value)["attendees"].error
    assert error is not None and (error.code, error.attempts) == ("INTERNAL_SERVERL_ERROR", 2)
    assert [c.outcome for c in report_calls(emulator, 6001)] == ["INTERNAL_SERVERL_ERROR"] * 2
    assert keys(moto_server, stack.bucket, "kaltura/attendees/") == []
    one_notification(moto_server, stack, "FAILED")
    assert "INTERNAL_SERVERL_ERROR after 2 attempt(s)" in email_of(moto_server, stack)


def test_a_read_timeout_is_retried_and_the_next_attempt_lands(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.faults.add("SLOW", report_id=6001, times=1, seconds=1.5)
    summary = run(ONE_DAY, stack, REPORTS="attendees", KALTURA_TIMEOUT="1")
    assert summary["status"] == "SUCCEEDED"
    # the slow call is recorded only once the emulator has finished sleeping
    for _ in range(100):
        if len(report_calls(emulator, 6001)) == 2:
            break
        time.sleep(0.05)
    calls = report_calls(emulator, 6001)
    assert [c.faults for c in calls] == [["SLOW"], []]
    assert json.loads(read(moto_server, stack.bucket, manifest_key(ATTENDEES)))["attempts"] == 2
    body = read(moto_server, stack.bucket, data_key(ATTENDEES))
    assert body == canonical(ATTENDEES, oracle_rows(emulator, ATTENDEES))


def test_kaltura_unreachable_fails_every_unit_with_connection_error_after_four_attempts(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, KALTURA_SERVICE_URL=url)
    units = units_of(info.value)
    assert set(units) == {"rooms", "attendees", "breakout_rooms"}
    for unit in units.values():
        assert unit.status == "FAILED" and unit.error is not None
        assert (unit.error.code, unit.error.attempts) == ("CONNECTION_ERROR", 4)
        assert f"could not reach {url}" in unit.error.message
    assert emulator.state()["requests"] == {}
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")
    assert email_of(moto_server, stack).splitlines()[0].startswith("FAILED: 3 of 3 report exports failed")


# --- retries: permanent codes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["SERVICE_FORBIDDEN", "SEARCH_TOO_GENERAL", "REPORT_NOT_FOUND"])
def test_a_permanent_code_fails_after_one_call(
    fault: str, run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.faults.add(fault, report_id=6001, times=None)
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="rooms,attendees")
    units = units_of(info.value)
    assert units["rooms"].status == "SUCCEEDED"
    error = units["attendees"].error
    assert error is not None and (error.code, error.attempts) == (fault, 1)
    assert error.message.startswith("report 6001: "), error.message
    assert [c.outcome for c in report_calls(emulator, 6001)] == [fault]
    assert keys(moto_server, stack.bucket, "kaltura/attendees/") == []
    assert keys(moto_server, stack.bucket, "kaltura/_manifests/attendees/") == []
    one_notification(moto_server, stack, "FAILED")
    email = email_of(moto_server, stack)
    assert f"{fault} after 1 attempt(s)" in email and KALTURA_ACTIONS[fault] in email


def test_report_not_found_is_the_empty_body_with_headers(run: Any, stack: Stack, emulator: KalturaEmulator) -> None:
    emulator.faults.add("REPORT_NOT_FOUND", report_id=6001, times=1)
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="attendees")
    error = units_of(info.value)["attendees"].error
    assert error is not None and error.code == "REPORT_NOT_FOUND" and error.attempts == 1
    # the fault was consumed by the only call: a retry would have landed the report
    assert [c.outcome for c in report_calls(emulator, 6001)] == ["REPORT_NOT_FOUND"]


def test_an_empty_result_without_a_header_lands_a_header_only_file(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.faults.add("EMPTY_NO_HEADER", report_id=6001, times=1)
    summary = run(ONE_DAY, stack, REPORTS="attendees")
    unit = summary["reports"][0]
    assert (unit["status"], unit["rows"]) == ("SUCCEEDED", 0)
    body = read(moto_server, stack.bucket, data_key(ATTENDEES))
    assert body == (",".join(ATTENDEES.columns) + "\n").encode() and unit["bytes"] == len(body)
    manifest = json.loads(read(moto_server, stack.bucket, manifest_key(ATTENDEES)))
    assert (manifest["rows"], manifest["attempts"], manifest["source_columns"]) == (0, 1, [])
    assert len(report_calls(emulator, 6001)) == 1
    one_notification(moto_server, stack, "SUCCEEDED")


def test_a_wrong_admin_secret_fails_at_once_after_one_session_call(
    run: Any, make_stack: Any, moto_server: MotoServer, emulator: KalturaEmulator, leaks: Leaks
) -> None:
    stack = make_stack({"partner_id": PID, "admin_secret": leaks.secret("f" * 32), "user_id": "exporter"})
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack)
    for unit in info.value.summary.reports:
        assert unit.error is not None and (unit.error.code, unit.error.attempts) == ("START_SESSION_ERROR", 1)
    assert emulator.state()["requests"] == {"session.start": 1}
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")
    assert KALTURA_ACTIONS["START_SESSION_ERROR"] in email_of(moto_server, stack)


@pytest.mark.parametrize(
    "problem", ["APP_TOKEN_ID_NOT_FOUND", "APP_TOKEN_NOT_ACTIVE", "INVALID_APP_TOKEN_HASH", "APP_TOKEN_EXPIRED"]
)
def test_an_app_token_problem_fails_at_once_after_one_token_call(
    problem: str, run: Any, make_stack: Any, moto_server: MotoServer, emulator: KalturaEmulator, leaks: Leaks
) -> None:
    token_id, token = "1_tok" + problem[-6:].lower(), leaks.secret(f"{problem.lower():x<40}"[:40])
    if problem == "APP_TOKEN_NOT_ACTIVE":
        emulator.add_app_token(token_id, token, active=False)
    elif problem == "INVALID_APP_TOKEN_HASH":
        emulator.add_app_token(token_id, token[::-1])
    elif problem == "APP_TOKEN_EXPIRED":
        emulator.add_app_token(token_id, token, expires_at=int(time.time()) - 60)
    stack = make_stack({"partner_id": PID, "app_token_id": token_id, "app_token": token})
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack)
    for unit in info.value.summary.reports:
        assert unit.error is not None and (unit.error.code, unit.error.attempts) == (problem, 1)
    assert emulator.state()["requests"] == {"session.startwidgetsession": 1, "apptoken.startsession": 1}
    assert emulator.calls == []
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")
    assert KALTURA_ACTIONS[problem] in email_of(moto_server, stack)


# --- INVALID_KS: a rotated secret is picked up past the cache -------------------------------------------------------


def test_a_revoked_stored_ks_picks_up_the_rotated_secret_past_the_cache(
    run: Any, make_stack: Any, moto_server: MotoServer, emulator: KalturaEmulator, leaks: Leaks
) -> None:
    ks1 = emulator.mint_ks()
    stack = make_stack({"ks": ks1})
    assert run(ONE_DAY, stack)["status"] == "SUCCEEDED"  # Powertools' cache (max_age 300) now holds KS1
    emulator.revoke(ks1)
    ks2 = emulator.mint_ks()
    moto_server.client("secretsmanager").put_secret_value(
        SecretId=stack.secret_id, SecretString=json.dumps({"ks": ks2})
    )
    emulator.calls.clear()

    summary = run(ONE_DAY, stack)

    assert summary["status"] == "SUCCEEDED"
    # each unit tried the cached KS1 first (a rejected KS is refused before the report id is read) ...
    # (a unit that starts after the refresh goes straight to the new KS)
    rejected = [c for c in emulator.calls if c.outcome == "INVALID_KS"]
    assert 1 <= len(rejected) <= 3 and {c.ks for c in rejected} == {ks1}
    # ... then the KS2 of the secret re-read past the cache, once for all units, and once per report
    assert [e["message"] for e in leaks.logs()].count("session refreshed") == 1
    for report_id in (6000, 6001, 6002):
        assert [(c.ks, c.outcome) for c in report_calls(emulator, report_id)] == [(ks2, "csv")]
    attempts = 0
    for report in (ROOMS, ATTENDEES, BREAKOUT_ROOMS):
        assert len(versions(moto_server, stack.bucket, data_key(report))) == 2
        attempts += json.loads(read(moto_server, stack.bucket, manifest_key(report)))["attempts"]
        assert read(moto_server, stack.bucket, data_key(report)) == canonical(report, oracle_rows(emulator, report))
    assert attempts == 3 + len(rejected)


def test_a_revoked_stored_ks_that_was_not_rotated_fails_naming_the_secret(
    run: Any, make_stack: Any, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    ks = emulator.mint_ks()
    emulator.revoke(ks)
    stack = make_stack({"ks": ks})
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="attendees")
    error = units_of(info.value)["attendees"].error
    assert error is not None and error.code == "INVALID_KS" and error.attempts == 1
    assert error.message == (
        f"credentials rejected: check secret {stack.secret_id} "
        "(the stored KS was rejected and the secret still holds the same KS)"
    )
    assert [(c.ks, c.outcome) for c in emulator.calls] == [(ks, "INVALID_KS")]
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")


# --- time budget ----------------------------------------------------------------------------------------------------


def test_a_unit_that_cannot_fit_another_attempt_fails_out_of_time_and_the_others_land(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    # 17.5 s of invocation - 15 s reserved = 2.5 s of work: attendees' read timeout is capped to what is left
    emulator.faults.add("SLOW", report_id=6001, times=None, seconds=4)
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, timeout=17.5)
    units = units_of(info.value)
    assert units["rooms"].status == units["breakout_rooms"].status == "SUCCEEDED"
    error = units["attendees"].error
    assert error is not None and error.code == "OUT_OF_TIME"
    assert error.message.startswith("ran out of time")
    # the one attempt ended on the capped read timeout (KALTURA_TIMEOUT is 660 s), not on the server's answer
    assert "(last error: TIMEOUT)" in error.message and error.message.endswith("nothing was written")
    assert error.attempts == 1
    assert keys(moto_server, stack.bucket, "kaltura/attendees/") == []
    assert keys(moto_server, stack.bucket, "kaltura/_manifests/attendees/") == []
    assert keys(moto_server, stack.bucket, "kaltura/rooms/") == [data_key(ROOMS)]
    assert keys(moto_server, stack.bucket, "kaltura/breakout_rooms/") == [data_key(BREAKOUT_ROOMS)]
    one_notification(moto_server, stack, "FAILED")
    email = email_of(moto_server, stack)
    assert "OUT_OF_TIME after 1 attempt(s): ran out of time" in email


def test_an_invocation_with_less_than_the_reserve_left_calls_nobody_and_fails_out_of_time(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, timeout=10)
    for unit in info.value.summary.reports:
        assert unit.error is not None and unit.error.code == "OUT_OF_TIME"
        assert unit.error.message.startswith("ran out of time")
    assert emulator.state()["requests"] == {} and emulator.issued_ks == []
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")


# --- the row cap and splitting -------------------------------------------------------------------------------------
# (test_export.py covers the plain attendees split, an ignored entry_ids filter and rooms at the cap with attendees)


def test_rooms_alone_at_the_cap_fail_loudly_without_trying_a_split(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    cap = len(emulator.rows_for(6000, FROM_S, TO_S))
    emulator.row_cap = cap
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="rooms", ROW_CAP=str(cap))
    error = units_of(info.value)["rooms"].error
    assert error is not None and error.code == "ROW_CAP_REACHED" and error.attempts == 1
    assert f"the result reached the cap of {cap} rows and is incomplete" in error.message
    # there is no safe split of rooms: no filtered call was tried
    assert [sorted(c.params) for c in emulator.calls] == [["from_date", "to_date"]]
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")
    assert "ROW_CAP_REACHED after 1 attempt(s)" in email_of(moto_server, stack)


def _attendee_cap(emu: KalturaEmulator) -> tuple[int, Counter[str]]:
    """A cap above rooms and above any one entry's attendees, below the day's attendees."""
    rooms = emu.rows_for(6000, FROM_S, TO_S)
    attendees = emu.rows_for(6001, FROM_S, TO_S)
    per_entry = Counter(r[0] for r in attendees)
    cap = max(len(rooms), *per_entry.values()) + 1
    assert len(attendees) > cap, "the day must hold more attendees than the cap"
    # every attendee row belongs to an entry of the rooms report (main rooms and breakouts alike)
    assert set(per_entry) <= {r[0] for r in rooms}
    return cap, per_entry


def test_a_transient_fault_on_the_rooms_fetch_of_a_split_is_retried_and_every_row_lands_once(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    cap, _ = _attendee_cap(emulator)
    emulator.row_cap = cap
    # REPORTS is attendees alone: the only rooms call is the one the splitting unit makes for itself
    emulator.faults.add("HTTP_500", report_id=6000, times=2)
    summary = run(ONE_DAY, stack, REPORTS="attendees", ROW_CAP=str(cap))

    unit = summary["reports"][0]
    assert unit["status"] == "SUCCEEDED"
    landed = rows_of(read(moto_server, stack.bucket, data_key(ATTENDEES)))
    expected = oracle_rows(emulator, ATTENDEES)
    assert Counter(map(tuple, landed)) == Counter(map(tuple, expected)) and len(landed) == unit["rows"] > cap
    assert len({tuple(r) for r in landed}) == len(landed)
    assert [c.outcome for c in report_calls(emulator, 6000)] == ["HTTP_500", "HTTP_500", "csv"]
    parts = [c for c in report_calls(emulator, 6001) if c.params.get("entry_ids")]
    manifest = json.loads(read(moto_server, stack.bucket, manifest_key(ATTENDEES)))
    assert manifest["split"]["by"] == "entry_ids"
    assert sum(p["rows"] for p in manifest["split"]["parts"]) == len(landed)
    assert all(p["rows"] < cap for p in manifest["split"]["parts"])
    # every call counts: the capped one, three for the rooms, and every part (halved ones included)
    assert manifest["attempts"] == 1 + 3 + len(parts)
    assert len(versions(moto_server, stack.bucket, data_key(ATTENDEES))) == 1


def test_a_permanent_fault_on_the_rooms_fetch_of_a_split_fails_the_unit_and_lands_nothing(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    cap, _ = _attendee_cap(emulator)
    emulator.row_cap = cap
    emulator.faults.add("SERVICE_FORBIDDEN", report_id=6000, times=None)
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="attendees", ROW_CAP=str(cap))
    error = units_of(info.value)["attendees"].error
    assert error is not None and error.code == "SERVICE_FORBIDDEN" and error.attempts == 2
    assert [c.outcome for c in report_calls(emulator, 6000)] == ["SERVICE_FORBIDDEN"]
    assert not [c for c in report_calls(emulator, 6001) if c.params.get("entry_ids")]
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")


def test_a_room_alone_at_the_cap_has_no_safe_split_and_lands_nothing(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    _, per_entry = _attendee_cap(emulator)
    biggest, cap = per_entry.most_common(1)[0]
    assert len(emulator.rows_for(6000, FROM_S, TO_S)) < cap < sum(per_entry.values())
    emulator.row_cap = cap
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="attendees", ROW_CAP=str(cap))
    error = units_of(info.value)["attendees"].error
    assert error is not None and error.code == "SPLIT_FAILED"
    assert error.message == f"room {biggest} alone reaches the cap of {cap} attendees rows: no safe split"
    assert any(c.params.get("entry_ids") == biggest for c in report_calls(emulator, 6001))
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")
    assert "SPLIT_FAILED" in email_of(moto_server, stack)


def _breakout_day(emu: KalturaEmulator) -> tuple[int, list[str], int]:
    """2026-12-04: 3 main rooms with 8 breakout rooms. The rooms report holds every breakout as a row of its own,
    so with ENTRY_IDS = the main rooms it stays small while their breakout rooms reach the cap."""
    frm = FROM_S + 2 * DAY
    mains = emu.room_ids(frm, frm + DAY)
    rooms = emu.rows_for(6000, frm, frm + DAY, {"entry_ids": mains})
    breakouts = emu.rows_for(6002, frm, frm + DAY, {"parentEntryIds": mains})
    per_parent = Counter(r[0] for r in breakouts)
    cap = max(len(rooms), *per_parent.values()) + 1
    assert len(breakouts) >= cap and len(per_parent) >= 2
    return frm, mains, cap


BREAKOUT_DAY = {"from": "2026-12-04", "to": "2026-12-04"}
BREAKOUT_STAMP = "20261204T000000Z_20261205T000000Z"
BREAKOUT_KEY = data_key(BREAKOUT_ROOMS, "2026-12-04", BREAKOUT_STAMP)


def test_breakout_rooms_over_the_cap_are_split_by_parent_entry_ids_and_land_every_row_exactly_once(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    frm, mains, cap = _breakout_day(emulator)
    emulator.row_cap = cap
    summary = run(BREAKOUT_DAY, stack, REPORTS="breakout_rooms", ROW_CAP=str(cap), ENTRY_IDS=",".join(mains))

    unit = summary["reports"][0]
    assert unit["status"] == "SUCCEEDED"
    landed = rows_of(read(moto_server, stack.bucket, BREAKOUT_KEY))
    expected = oracle_rows(emulator, BREAKOUT_ROOMS, {"parentEntryIds": mains}, frm=frm)
    assert Counter(map(tuple, landed)) == Counter(map(tuple, expected)) and unit["rows"] == len(expected) >= cap
    assert len({tuple(r) for r in landed}) == len(landed)
    calls = report_calls(emulator, 6002)
    assert calls[0].params["parentEntryIds"] == ",".join(mains) and calls[0].rows == cap
    parts = calls[1:]
    assert parts and all(c.rows is not None and c.rows < cap for c in parts)
    assert sorted(m for c in parts for m in str(c.params["parentEntryIds"]).split(",")) == sorted(mains)
    # the splitting unit asked for the rooms itself, with the same room filter
    assert [c.params.get("entry_ids") for c in report_calls(emulator, 6000)] == [",".join(mains)]
    manifest = json.loads(read(moto_server, stack.bucket, manifest_key(BREAKOUT_ROOMS, "2026-12-04", BREAKOUT_STAMP)))
    assert manifest["split"]["by"] == "parentEntryIds"
    assert sum(p["rows"] for p in manifest["split"]["parts"]) == len(landed)


def test_a_split_whose_parent_entry_ids_filter_the_server_ignores_fails_and_lands_nothing(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    _, mains, cap = _breakout_day(emulator)
    emulator.row_cap = cap
    # from the first call on: the capped call carries parentEntryIds too, and comes back capped all the same
    emulator.faults.add("IGNORE_FILTER", report_id=6002, times=None)
    with pytest.raises(RunFailed) as info:
        run(BREAKOUT_DAY, stack, REPORTS="breakout_rooms", ROW_CAP=str(cap), ENTRY_IDS=",".join(mains))
    error = units_of(info.value)["breakout_rooms"].error
    assert error is not None and error.code == "SPLIT_FAILED"
    assert error.message.startswith("Kaltura ignored the parentEntryIds filter: a part for ")
    assert error.message.endswith("nothing was landed")
    assert len(report_calls(emulator, 6002)) >= 2
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")


# --- S3: multipart uploads ------------------------------------------------------------------------------------------

# attendees of 2026-12-02 at this scale: ~9 MiB landed, two parts of a multipart upload (and under the row cap)
BIG_SCALE = 480


def _error_response(url: str) -> AWSResponse:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
        b"<Message>We encountered an internal error. Please try again.</Message></Error>"
    )

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    return AWSResponse(url, 500, {"Content-Type": "application/xml"}, Raw())


def test_a_body_cut_after_a_part_went_up_never_lands_and_leaves_no_upload(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.scale = BIG_SCALE
    # cut at 95 %: the first part is already uploading when the cut is seen
    emulator.faults.add("DROP_MID_BODY", report_id=6001, times=1, fraction=0.95)
    summary = run(ONE_DAY, stack, REPORTS="attendees")

    assert summary["status"] == "SUCCEEDED"
    assert [c.outcome for c in report_calls(emulator, 6001)] == ["DROP_MID_BODY", "csv"]
    assert report_calls(emulator, 6001)[0].bytes * 0.95 > PART_SIZE
    key = data_key(ATTENDEES)
    assert len(versions(moto_server, stack.bucket, key)) == 1
    assert open_uploads(moto_server, stack.bucket) == []
    body = read(moto_server, stack.bucket, key)
    assert PART_SIZE < len(body) < 2 * PART_SIZE
    assert body == canonical(ATTENDEES, oracle_rows(emulator, ATTENDEES))
    manifest = json.loads(read(moto_server, stack.bucket, manifest_key(ATTENDEES)))
    assert (manifest["attempts"], manifest["s3"]["parts"]) == (2, 2)


def test_a_failing_upload_part_keeps_the_previous_version_and_leaves_no_upload(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    emulator.scale = BIG_SCALE
    key = data_key(ATTENDEES)
    client = s3_client()
    seen: list[int] = []

    # 1. S3 fails part 2 once with a 500: botocore's standard retries absorb it and the report lands
    def fail_part_two_once(request: Any, **_: Any) -> AWSResponse | None:
        if "partNumber=2" in request.url and stack.bucket in request.url and not seen:
            seen.append(2)
            return _error_response(request.url)
        return None

    client.meta.events.register_first("before-send.s3.UploadPart", fail_part_two_once, unique_id="kx-fault-once")
    try:
        first = run(ONE_DAY, stack, REPORTS="attendees")
    finally:
        client.meta.events.unregister("before-send.s3.UploadPart", unique_id="kx-fault-once")
    assert seen == [2] and first["status"] == "SUCCEEDED"
    before = versions(moto_server, stack.bucket, key)
    assert len(before) == 1
    body = read(moto_server, stack.bucket, key)
    manifest_before = read(moto_server, stack.bucket, manifest_key(ATTENDEES))
    manifest = json.loads(manifest_before)
    # (the test above compares such a body with the oracle; here the bytes S3 holds must match the manifest)
    assert len(body) > PART_SIZE and manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert (manifest["attempts"], manifest["s3"]["parts"], manifest["rows"]) == (1, 2, first["reports"][0]["rows"])

    # 2. S3 keeps failing part 2 (what is left once botocore has given up): the unit fails, nothing moves
    def fail_part_two(params: dict[str, Any], **_: Any) -> None:
        if params.get("PartNumber") == 2 and params.get("Bucket") == stack.bucket:
            seen.append(2)
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "We encountered an internal error."}}, "UploadPart"
            )

    client.meta.events.register("before-parameter-build.s3.UploadPart", fail_part_two, unique_id="kx-fault")
    try:
        with pytest.raises(RunFailed) as info:
            run(ONE_DAY, stack, REPORTS="attendees")
    finally:
        client.meta.events.unregister("before-parameter-build.s3.UploadPart", unique_id="kx-fault")
    error = units_of(info.value)["attendees"].error
    assert error is not None and error.code == "S3_ERROR"
    assert error.message.startswith("writing s3:")
    assert error.message.endswith(" failed: InternalError: We encountered an internal error.")
    assert error.attempts == 1 and seen == [2, 2]
    assert versions(moto_server, stack.bucket, key) == before
    assert read(moto_server, stack.bucket, key) == body
    assert open_uploads(moto_server, stack.bucket) == []
    assert read(moto_server, stack.bucket, manifest_key(ATTENDEES)) == manifest_before
    assert len(versions(moto_server, stack.bucket, manifest_key(ATTENDEES))) == 1
    received(moto_server, stack)  # the first run's SUCCEEDED
    assert email_of(moto_server, stack).splitlines()[0].startswith("FAILED: 1 of 1 report exports failed")


# --- redaction must not eat what the administrator needs to read ---------------------------------------------------


def test_a_failed_put_names_the_key_it_could_not_write(run: Any, stack: Stack, moto_server: MotoServer) -> None:
    key = data_key(ROOMS)
    client = s3_client()

    def fail_data_put(params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") == stack.bucket and params.get("Key") == key:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")

    client.meta.events.register("before-parameter-build.s3.PutObject", fail_data_put, unique_id="kx-put")
    try:
        with pytest.raises(RunFailed) as info:
            run(ONE_DAY, stack, REPORTS="rooms")
    finally:
        client.meta.events.unregister("before-parameter-build.s3.PutObject", unique_id="kx-put")
    error = units_of(info.value)["rooms"].error
    assert error is not None and (error.code, error.attempts) == ("S3_ERROR", 1)
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    assert error.message == f"writing s3://{stack.bucket}/{key} failed: AccessDenied: Access Denied"


def test_a_long_secret_name_and_the_landed_key_stay_readable(
    run: Any, moto_server: MotoServer, emulator: KalturaEmulator, app_token: dict[str, Any], leaks: Leaks
) -> None:
    stack = create_stack(moto_server, app_token, name=f"kx-{uuid.uuid4().hex[:10]}-university-production")
    emulator.faults.add("INVALID_KS", report_id=6001, times=None)
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, REPORTS="rooms,attendees")
    error = units_of(info.value)["attendees"].error
    assert error is not None and error.code == "INVALID_KS"
    assert error.message.startswith(f"credentials rejected: check secret {stack.secret_id} (")
    landed = [e for e in leaks.logs() if e["message"] == "unit landed"]
    assert len(landed) == 1 and landed[0]["s3_key"] == data_key(ROOMS)


# --- SNS unreachable -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["succeeded", "failed_unit", "bad_event"])
def test_an_unreachable_topic_never_hides_the_export_result(
    outcome: str, run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator, leaks: Leaks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import app

    # the handler caches its clients per region and endpoint only: start from none so SNS reads the new variable
    monkeypatch.setattr(app, "_services", {})
    env: dict[str, str] = {"AWS_ENDPOINT_URL_SNS": f"http://127.0.0.1:{closed_port()}"}
    if outcome == "failed_unit":
        emulator.faults.add("SERVICE_FORBIDDEN", report_id=6001, times=None)
    event = {"from": "2026-12-05", "to": "2026-12-01"} if outcome == "bad_event" else ONE_DAY

    expected = {"succeeded": None, "failed_unit": RunFailed, "bad_event": EventError}[outcome]
    if expected is None:
        summary = run(event, stack, **env)
        assert summary["status"] == "SUCCEEDED"
        landed = [data_key(r) for r in (ROOMS, ATTENDEES, BREAKOUT_ROOMS)]
        landed += [manifest_key(r) for r in (ROOMS, ATTENDEES, BREAKOUT_ROOMS)]
        assert keys(moto_server, stack.bucket) == sorted([*landed, f"kaltura/_runs/{summary['run_id']}.json"])
    else:
        with pytest.raises(expected):
            run(event, stack, **env)
    failures = [e for e in leaks.logs() if e["message"] == "notification failed"]
    assert len(failures) == 1
    assert failures[0]["level"] == "ERROR" and failures[0]["topic_arn"] == stack.topic_arn
    assert "EndpointConnectionError" in failures[0]["error"]
    assert received(moto_server, stack) == []


# --- bad input: events, settings, secrets -------------------------------------------------------------------------

BAD_EVENTS = [
    (
        {**SCHEDULED, "force": True},
        "scheduled event: unknown field(s) force; allowed: execution_id, schedule_arn, scheduled_time",
    ),
    ({"from": "2026-12-01", "to": "2026-12-02", "report": "attendees"}, "manual event: unknown field(s) report"),
    ({"from": "2026-13-01", "to": "2026-12-01"}, "from must be a date YYYY-MM-DD; got '2026-13-01'"),
    ({"from": "2026-12-01"}, "to is missing: a manual run needs both from and to (YYYY-MM-DD)"),
    ({**ONE_DAY, "reports": ["webinars"]}, "reports: unknown report 'webinars'"),
    ({**ONE_DAY, "reports": "attendees"}, "reports must be a non-empty list of report names or ids"),
    ({"from": 20261201, "to": "2026-12-01"}, "from must be a date YYYY-MM-DD"),
    ({"scheduled_time": 1796263200}, "scheduled_time must be an ISO 8601 instant"),
    ({**SCHEDULED, "execution_id": 7}, "execution_id must be a string"),
    ([SCHEDULED], "the event must be a JSON object; got list"),
    ({}, "the event is empty; expected scheduled_time, or from and to"),
    ({"start": "2026-12-01"}, "unknown event shape (keys: start)"),
    ({"mode": "backfill"}, ("mode must be ", "got 'backfill'")),
    ({"mode": "unit", "report": "attendees"}, "unit event: missing field(s) partner_id, window_end, window_start"),
    (
        {
            "mode": "unit",
            "report": "attendees",
            "partner_id": "42x",
            "window_start": "2026-12-02T00:00:00Z",
            "window_end": "2026-12-03T00:00:00Z",
        },
        "partner_id must be a positive whole number",
    ),
    (
        {
            "mode": "unit",
            "report": "webinars",
            "partner_id": PID,
            "window_start": "2026-12-02T00:00:00Z",
            "window_end": "2026-12-03T00:00:00Z",
        },
        "report: unknown report 'webinars'",
    ),
]


@pytest.mark.parametrize(("event", "message"), BAD_EVENTS, ids=[f"event{i}" for i in range(len(BAD_EVENTS))])
def test_a_malformed_event_names_the_field_writes_nothing_and_notifies_failed(
    event: Any, message: str | tuple[str, ...], run: Any, stack: Stack, moto_server: MotoServer,
    emulator: KalturaEmulator,
) -> None:  # fmt: skip
    with pytest.raises(EventError) as info:
        run(event, stack)
    for fragment in (message,) if isinstance(message, str) else message:
        assert fragment in str(info.value)
    assert keys(moto_server, stack.bucket) == []
    assert emulator.state()["requests"] == {}
    note = one_notification(moto_server, stack, "FAILED")
    assert note["Subject"] == "FAILED: kaltura-export run did not start (INVALID_EVENT)"
    assert json.loads(note["Message"])["error"]["code"] == "INVALID_EVENT"
    assert email_of(moto_server, stack).splitlines()[0] == f"FAILED: the export did not run. {info.value}"


BAD_UNIT_EVENTS = [
    # a window that is not a period
    (
        {"window_start": "2026-12-02T00:00:00Z", "window_end": "2026-12-02T12:00:00Z"},
        "window_end must be 2026-12-03T00:00:00Z for the daily period starting 2026-12-02T00:00:00Z",
    ),
    ({"window_start": "2026-12-02T06:00:00Z", "window_end": "2026-12-03T06:00:00Z"}, "window_start: "),
    ({"partner_id": 999}, "partner_id 999 is not one of the configured secrets' partners"),
]
UNIT = {
    "mode": "unit",
    "report": "attendees",
    "partner_id": PID,
    "window_start": "2026-12-02T00:00:00Z",
    "window_end": "2026-12-03T00:00:00Z",
}


@pytest.mark.parametrize(("fields", "message"), BAD_UNIT_EVENTS, ids=["window_end", "window_start", "partner_id"])
def test_a_unit_event_for_no_period_or_partner_names_the_field_writes_nothing_and_notifies_failed(
    fields: dict[str, Any], message: str, run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    with pytest.raises(EventError) as info:
        run({**UNIT, **fields}, stack)
    assert message in str(info.value)
    assert keys(moto_server, stack.bucket) == []
    assert emulator.calls == []
    note = one_notification(moto_server, stack, "FAILED")
    assert note["Subject"] == "FAILED: kaltura-export run did not start (INVALID_EVENT)"
    assert email_of(moto_server, stack).splitlines()[0] == f"FAILED: the export did not run. {info.value}"


BAD_SETTINGS = [
    ({"KALTURA_SERVICE_URL": "ftp://www.kaltura.com"}, "KALTURA_SERVICE_URL must be an https:// URL"),
    ({"KALTURA_SERVICE_URL": "http://www.kaltura.com"}, "KALTURA_SERVICE_URL must use https://"),
    ({"KALTURA_SECRET_ARN": None}, "KALTURA_SECRET_ARN is required"),
    ({"KALTURA_SECRET_ARNS": "kaltura/a,kaltura/b"}, "KALTURA_SECRET_ARN and KALTURA_SECRET_ARNS are both set"),
    ({"KALTURA_SECRET_ARN": None, "KALTURA_SECRET_ARNS": "k/a,k/a"}, "KALTURA_SECRET_ARNS lists the same secret twice"),
    ({"EXPORT_BUCKET": None}, "EXPORT_BUCKET is required"),
    ({"EXPORT_BUCKET": "Not_A_Bucket"}, "EXPORT_BUCKET must be an S3 bucket name"),
    ({"EXPORT_PREFIX": "kaltura/../x"}, "EXPORT_PREFIX must be a plain key prefix"),
    ({"REPORTS": "rooms,webinars"}, "REPORTS: unknown report 'webinars'"),
    ({"PERIOD": "fortnightly"}, 'PERIOD must be one of hourly, daily, weekly, monthly; got "fortnightly"'),
    ({"TIMEZONE": "Mars/Olympus_Mons"}, 'TIMEZONE must be an IANA time zone such as Europe/Berlin or UTC; got "Mars'),
    ({"LOOKBACK": "three"}, 'LOOKBACK must be a whole number between 1 and 1000; got "three"'),
    ({"ENTRY_IDS": "1_a;1_b"}, "ENTRY_IDS: '1_a;1_b' contains ';', which Kaltura's params cannot carry"),
    ({"ENTRY_IDS": "1_a,,1_b"}, "ENTRY_IDS: empty item in the comma list"),
    ({"USER_IDS": "s1,"}, "USER_IDS: empty item in the comma list"),
    ({"VIRTUAL_EVENT_IDS": "1;2"}, "VIRTUAL_EVENT_IDS: '1;2' contains ';'"),
    ({"CUE_POINT_IDS": ",1_cp"}, "CUE_POINT_IDS: empty item in the comma list"),
    ({"EXCLUDED_FIELDS": "user_password"}, "EXCLUDED_FIELDS: 'user_password' is not a column of the selected reports"),
    ({"MAX_CONCURRENCY": "0"}, "MAX_CONCURRENCY must be a whole number between 1 and 64; got 0"),
    ({"ROW_CAP": "-5"}, "ROW_CAP must be a whole number between 1 and 10000000; got -5"),
    ({"KALTURA_TIMEOUT": "soon"}, 'KALTURA_TIMEOUT must be a number of seconds between 1 and 900; got "soon"'),
    ({"RETRY_BASE_DELAY": "-1"}, "RETRY_BASE_DELAY must be a number of seconds between 0 and 60; got -1"),
    (
        {"SHRINK_THRESHOLD": "1.5"},
        'SHRINK_THRESHOLD must be a fraction between 0 and 1 (0 turns the warning off); got "1.5"',
    ),
]


@pytest.mark.parametrize(
    ("env", "message"), BAD_SETTINGS, ids=["-".join(env) + f"-{i}" for i, (env, _) in enumerate(BAD_SETTINGS)]
)
def test_a_malformed_setting_names_the_variable_writes_nothing_and_notifies_failed(
    env: dict[str, str | None], message: str, run: Any, stack: Stack, moto_server: MotoServer,
    emulator: KalturaEmulator,
) -> None:  # fmt: skip
    with pytest.raises(ConfigError) as info:
        run(SCHEDULED, stack, **env)
    assert str(info.value).startswith("invalid configuration: ")
    assert message in str(info.value)
    assert keys(moto_server, stack.bucket) == []
    assert emulator.state()["requests"] == {}
    note = one_notification(moto_server, stack, "FAILED")
    assert note["Subject"] == "FAILED: kaltura-export run did not start (CONFIG_ERROR)"
    email = email_of(moto_server, stack)
    assert email.splitlines()[0] == f"FAILED: the export did not run. {info.value}"
    assert "fix the function's configuration (environment variables)" in email


def test_a_malformed_topic_names_it_and_cannot_be_notified(
    run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator, leaks: Leaks
) -> None:
    with pytest.raises(ConfigError, match=r"NOTIFY_TOPIC_ARN must be an SNS topic ARN .*; got 'ops@example\.edu'"):
        run(SCHEDULED, stack, NOTIFY_TOPIC_ARN="ops@example.edu")
    assert keys(moto_server, stack.bucket) == [] and emulator.state()["requests"] == {}
    assert received(moto_server, stack) == [] and moto_server.sent_notifications(stack.topic_arn) == []
    assert [e["message"] for e in leaks.logs() if e["level"] == "ERROR"] == ["invalid configuration"]


BAD_SECRETS: list[tuple[str, Any, str]] = [
    ("not-json", '{"partner_id": 4242, "admin_secret": "SECRET"', "the value starts like JSON but is not valid JSON"),
    ("bare-admin-secret", "SECRET", "the stored KS is not a Kaltura session (no partner id can be read)"),
    ("empty", "   ", "the value is empty"),
    ("json-list", '["SECRET"]', "expected a JSON object or a KS string; got JSON list"),
    ("missing-token", {"partner_id": PID, "app_token_id": "1_abc"}, "missing field 'app_token'"),
    ("missing-partner", {"admin_secret": "SECRET"}, "missing field 'partner_id'"),
    ("unknown-shape", {"user": "exporter", "password": "SECRET"}, "unknown credentials shape (fields: password, user)"),
    ("extra-field", {"partner_id": PID, "admin_secret": "SECRET", "pwd": "x"}, "unexpected field(s) pwd"),
    ("partner-not-number", {"partner_id": "42a", "admin_secret": "SECRET"}, "partner_id must be a positive whole"),
    ("partner-zero", {"partner_id": 0, "admin_secret": "SECRET"}, "partner_id must be a positive whole number"),
    ("token-not-string", {"partner_id": PID, "app_token_id": "1_abc", "app_token": 7}, "'app_token' must be a string"),
    ("bad-hash", {"partner_id": PID, "app_token_id": "1_a", "app_token": "SECRET", "hash_type": "CRC"}, "hash_type"),
    ("bad-expiry", {"partner_id": PID, "admin_secret": "SECRET", "expiry": 5}, "expiry must be a number of seconds"),
    ("ks-partner-mismatch", {"ks": "KS", "partner_id": 99}, "partner_id does not match the partner of the stored KS"),
]


def _secret_value(value: Any, secret: str, ks: str) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("SECRET", secret).replace('"KS"', json.dumps(ks))


@pytest.mark.parametrize(("value", "message"), [b[1:] for b in BAD_SECRETS], ids=[b[0] for b in BAD_SECRETS])
def test_a_malformed_secret_names_the_secret_and_field_never_the_value(
    value: Any, message: str, run: Any, make_stack: Any, moto_server: MotoServer, emulator: KalturaEmulator,
    leaks: Leaks,
) -> None:  # fmt: skip
    secret = leaks.secret("adm1n-" + "5ecret" * 6)
    ks = emulator.mint_ks()
    stack = make_stack(_secret_value(value, secret, ks))
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack)
    summary = info.value.summary
    assert summary.partners == []
    for unit in summary.reports:
        assert unit.status == "FAILED" and unit.error is not None
        assert (unit.error.code, unit.error.attempts) == ("SECRET_ERROR", 1)
        assert unit.error.message.startswith(f"secret {stack.secret_id}: ")
        assert message in unit.error.message
    assert emulator.state()["requests"] == {}
    # only the run summary: no data, no manifest
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")
    email = email_of(moto_server, stack)
    assert email.splitlines()[0].startswith("FAILED: 3 of 3 report exports failed")
    assert f"SECRET_ERROR after 1 attempt(s): secret {stack.secret_id}: " in email
    assert "check the secret's value and the function's permission to read it" in email


@pytest.mark.parametrize("how", ["missing", "deleted"])
def test_an_unreadable_secret_names_it_and_the_reason_never_its_value(
    how: str, run: Any, stack: Stack, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    env: dict[str, str] = {}
    if how == "missing":
        env["KALTURA_SECRET_ARN"] = name = "kaltura/nowhere"
        reason = "ResourceNotFoundException"
    else:
        # the secret still holds the app token, but it is scheduled for deletion: Secrets Manager refuses to read it
        moto_server.client("secretsmanager").delete_secret(SecretId=stack.secret_id, RecoveryWindowInDays=7)
        name = stack.secret_id
        reason = "InvalidRequestException"
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack, **env)
    for unit in info.value.summary.reports:
        assert unit.error is not None and unit.error.code == "SECRET_ERROR"
        assert unit.error.message.startswith(f"secret {name} could not be read: ")
        assert reason in unit.error.message
    assert emulator.state()["requests"] == {}
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")
    assert f"secret {name} could not be read" in email_of(moto_server, stack)


def test_when_every_export_failed_the_email_does_not_say_the_others_landed(
    run: Any, stack: Stack, moto_server: MotoServer
) -> None:
    with pytest.raises(RunFailed):
        run(ONE_DAY, stack, KALTURA_SECRET_ARN="kaltura/nowhere")
    first = email_of(moto_server, stack).splitlines()[0]
    assert first.startswith("FAILED: 3 of 3 report exports failed")
    assert "the others landed" not in first


def _binary_stack(moto: MotoServer, emu: KalturaEmulator) -> Stack:
    stack = create_stack(moto, "placeholder")
    sm = moto.client("secretsmanager")
    sm.delete_secret(SecretId=stack.secret_id, ForceDeleteWithoutRecovery=True)
    arn = sm.create_secret(Name=f"{stack.bucket}/binary", SecretBinary=json.dumps({"ks": emu.mint_ks()}).encode())
    return Stack(bucket=stack.bucket, topic_arn=stack.topic_arn, queue_url=stack.queue_url, secret_id=arn["ARN"])


def test_a_binary_secret_is_named_as_binary_and_writes_only_the_summary(
    run: Any, moto_server: MotoServer, emulator: KalturaEmulator
) -> None:
    stack = _binary_stack(moto_server, emulator)
    with pytest.raises(RunFailed) as info:
        run(ONE_DAY, stack)
    for unit in info.value.summary.reports:
        assert unit.error is not None and (unit.error.code, unit.error.attempts) == ("SECRET_ERROR", 1)
        assert unit.error.message == f"secret {stack.secret_id}: the value must be a string (SecretString), not binary"
    assert emulator.state()["requests"] == {}
    assert keys(moto_server, stack.bucket) == [f"kaltura/_runs/{info.value.summary.run_id}.json"]
    one_notification(moto_server, stack, "FAILED")
