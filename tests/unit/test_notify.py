from __future__ import annotations

import json
from datetime import UTC, datetime

from kaltura_export.notify import default_message, email_text, sns_message, subject
from kaltura_export.summary import RunSummary, UnitError, UnitResult

T0 = datetime(2026, 12, 3, 2, 0, 5, tzinfo=UTC)


def unit(report: str = "attendees", status: str = "SUCCEEDED", **kw: object) -> UnitResult:
    base = dict(
        report=report,
        report_id={"rooms": 6000, "attendees": 6001, "breakout_rooms": 6002}[report],
        partner_id=4242,
        window_start="2026-12-02T00:00:00Z",
        window_end="2026-12-03T00:00:00Z",
        dt="2026-12-02",
        status=status,
    )
    if status == "SUCCEEDED":
        base |= dict(rows=10, bytes=100, s3_uri="s3://b/k.csv")
    base |= kw
    return UnitResult(**base)  # type: ignore[arg-type]


def summary(*units: UnitResult) -> RunSummary:
    s = RunSummary(
        run_id="20261203T020005Z-abcd1234", trigger="schedule", started_at=T0, finished_at=T0, partners=[4242]
    )
    s.reports = list(units)
    s.uri = "s3://b/kaltura/_runs/20261203T020005Z-abcd1234.json"
    return s


def test_success_first_line_and_subject() -> None:
    s = summary(unit("rooms"), unit("attendees"), unit("breakout_rooms"))
    assert s.status == "SUCCEEDED"
    assert email_text(s).splitlines()[0] == "SUCCEEDED: 3 report exports landed, 30 rows in all. Nothing to do."
    assert subject(s) == "SUCCEEDED: kaltura-export 3 report exports, 30 rows"


def test_failure_names_report_window_code_attempts_and_what_to_do() -> None:
    bad = unit(
        "attendees",
        "FAILED",
        error=UnitError("INVALID_KS", "report 6001: Invalid KS [REDACTED]", 1, "check the secret"),
    )
    s = summary(unit("rooms"), bad)
    text = email_text(s)
    first = text.splitlines()[0]
    assert first.startswith("FAILED: 1 of 2 report exports failed")
    assert "attendees (6001), partner 4242, 2026-12-02T00:00:00Z - 2026-12-03T00:00:00Z" in text
    assert "INVALID_KS after 1 attempt(s): report 6001: Invalid KS [REDACTED]" in text
    assert "What to do: check the secret" in text
    assert subject(s).startswith("FAILED: ")


def test_skipped_units_are_not_counted_as_landed() -> None:
    s = summary(unit("rooms"), unit("attendees", "SKIPPED"), unit("breakout_rooms", "SKIPPED"))
    assert s.status == "SUCCEEDED"
    first = email_text(s).splitlines()[0]
    assert first == (
        "SUCCEEDED: 1 report exports landed (2 skipped: already landed or landed by a concurrent run), "
        "10 rows in all. Nothing to do."
    )
    assert subject(s) == "SUCCEEDED: kaltura-export 1 report exports, 10 rows"


def test_drift_and_warnings_are_listed() -> None:
    s = summary(unit(drift={"added": ["new_metric"]}))
    s.warnings.append("rooms (6000) does not take USER_IDS: exported without that filter")
    text = email_text(s)
    assert "added (not landed) new_metric; dropped (landed empty) -" in text
    assert "rooms (6000) does not take USER_IDS" in text


def test_subject_is_ascii_one_line_under_100() -> None:
    s = summary(unit())
    s.error = UnitError("INVALID_EVENT" + "X" * 200, "é\nbad", 0)
    text = subject(s)
    assert text.isascii() and "\n" not in text and len(text) < 100 and text.startswith("FAILED")


def test_sns_message_structure() -> None:
    s = summary(unit())
    msg = sns_message(s)
    assert msg["MessageStructure"] == "json"
    body = json.loads(msg["Message"])
    assert json.loads(body["default"]) == s.to_dict()
    assert body["email"] == email_text(s)
    assert msg["MessageAttributes"]["status"] == {"DataType": "String", "StringValue": "SUCCEEDED"}


def test_default_is_cut_to_fit_sns() -> None:
    failures = [
        unit(
            "attendees",
            "FAILED",
            window_start=f"2026-01-{i % 28 + 1:02d}T00:00:00Z",
            error=UnitError("X", "m" * 400, 4),
        )
        for i in range(1000)
    ]
    s = summary(*failures)
    text = default_message(s)
    assert len(text.encode()) < 256 * 1024
    short = json.loads(text)
    assert short["truncated"] is True and short["counts"]["FAILED"] == 1000 and short["summary_uri"] == s.uri
    assert len(short["reports"]) == 20
    assert len(json.dumps(sns_message(s)).encode()) < 256 * 1024
