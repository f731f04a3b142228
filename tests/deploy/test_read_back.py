"""Several days of all three reports for two partners, landed by the handler, read back as Athena reads them.

pyarrow.dataset stands in for Athena: Hive partitioning (partner_id=, dt=) discovered from the keys, every
column a string as in the Glue tables, the files read over S3 (moto on 127.0.0.1). Row counts per partner and
day must equal what the exporter reported and what the Kaltura emulator holds for those windows.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kaltura_export.catalogue import REPORTS
from kaltura_export.windows import Period, manual_windows
from local.aws import MotoServer, create_stack
from local.lambda_context import LocalContext
from tests.deploy.cfn import load_template
from tests.deploy.conftest import need_module

ZONE = "America/New_York"
FIRST, LAST = date(2026, 12, 1), date(2026, 12, 3)
PARTNERS = {4242: 7, 5151: 11}  # partner id -> the emulator's seed (a different university)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def emulators() -> Iterator[dict[int, Any]]:
    from local.kaltura_emulator import KalturaEmulator

    started = {}
    for pid, seed in PARTNERS.items():
        emulator = KalturaEmulator(partner_id=pid, admin_secret=secrets.token_hex(16), seed=seed)
        emulator.start()
        started[pid] = emulator
    yield started
    for emulator in started.values():
        emulator.stop()


@pytest.fixture
def landed(moto: MotoServer, emulators: dict[int, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]]:
    """Three local days of the three reports for both partners, exported by the real handler (one run)."""
    import app

    secret_ids = []
    stack = None
    for pid, emulator in emulators.items():
        token_id, token = "1_" + secrets.token_hex(4), secrets.token_hex(16)
        emulator.add_app_token(token_id, token)
        value = {"partner_id": pid, "app_token_id": token_id, "app_token": token, "service_url": emulator.url}
        made = create_stack(moto, value)
        stack = stack or made
        secret_ids.append(made.secret_id)
    assert stack is not None
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    for k in ("KALTURA_SECRET_ARN", "REPORTS", "LOOKBACK", "ENTRY_IDS", "USER_IDS", "EXCLUDED_FIELDS", "EXPORT_PREFIX"):
        monkeypatch.delenv(k, raising=False)
    env = stack.env() | {
        "KALTURA_SECRET_ARN": "",
        "KALTURA_SECRET_ARNS": ",".join(secret_ids),
        "KALTURA_SERVICE_URL": emulators[4242].url,
        "TIMEZONE": ZONE,
        "PERIOD": "daily",
        "RETRY_BASE_DELAY": "0",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    summary: dict[str, Any] = app.lambda_handler({"from": FIRST.isoformat(), "to": LAST.isoformat()}, LocalContext())
    assert summary["status"] == "SUCCEEDED", summary
    assert sorted(summary["partners"]) == sorted(PARTNERS)
    return stack.bucket, summary


def s3_filesystem(moto: MotoServer) -> Any:
    fs = need_module("pyarrow.fs")
    # pyarrow's S3 client ignores AWS_ENDPOINT_URL: the endpoint must be given explicitly
    return fs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        session_token=os.environ.get("AWS_SESSION_TOKEN"),
        region="us-east-1",
        endpoint_override=moto.url.removeprefix("http://"),
        scheme="http",
    )


def read_report(moto: MotoServer, bucket: str, report: Any) -> Any:
    """The report's table as an engine sees it: Hive partitions from the path, every column a string."""
    pa = need_module("pyarrow")
    ds = need_module("pyarrow.dataset")
    pacsv = need_module("pyarrow.csv")
    csv_format = ds.CsvFileFormat(
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in report.columns}, strings_can_be_null=False
        )
    )
    partitioning = ds.partitioning(pa.schema([("partner_id", pa.string()), ("dt", pa.string())]), flavor="hive")
    dataset = ds.dataset(
        f"{bucket}/kaltura/{report.name}/", filesystem=s3_filesystem(moto), format=csv_format, partitioning=partitioning
    )
    return dataset


def test_partitions_read_back_with_the_rows_the_exporter_landed(
    moto: MotoServer, emulators: dict[int, Any], landed: tuple[str, dict[str, Any]]
) -> None:
    bucket, summary = landed
    windows = manual_windows(FIRST, LAST, Period.DAILY, ZoneInfo(ZONE))
    assert [w.dt for w in windows] == [date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)]
    glue = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
        for r in load_template()["Resources"].values()
        if r["Type"] == "AWS::Glue::Table"
    }
    for report in REPORTS:
        table = read_report(moto, bucket, report).to_table()
        # the columns Athena sees: the Glue table's columns, then its partition keys
        expected_columns = [c["Name"] for c in glue[report.name]["StorageDescriptor"]["Columns"]]
        expected_columns += [k["Name"] for k in glue[report.name]["PartitionKeys"]]
        assert table.column_names == expected_columns
        assert table.column_names == [*report.columns, "partner_id", "dt"]

        counted = Counter(zip(table.column("partner_id").to_pylist(), table.column("dt").to_pylist(), strict=True))
        reported = {
            (str(u["partner_id"]), w.dt.isoformat()): u["rows"]
            for u in summary["reports"]
            if u["report"] == report.name
            for w in windows
            if u["window_start"] == w.iso_start()
        }
        oracle = {
            (str(pid), w.dt.isoformat()): len(emulator.rows_for(report.id, w.start_s, w.end_s))
            for pid, emulator in emulators.items()
            for w in windows
        }
        assert len(reported) == len(PARTNERS) * len(windows)
        assert {k: v for k, v in reported.items() if v} == dict(counted), report.name
        assert reported == oracle, report.name
        assert sum(counted.values()) > 0, report.name


def test_one_partition_reads_as_the_csv_was_written(moto: MotoServer, landed: tuple[str, dict[str, Any]]) -> None:
    """Partition pruning, and values with commas, quotes and any script read back exactly as landed."""
    ds = need_module("pyarrow.dataset")
    bucket, summary = landed
    attendees = next(r for r in REPORTS if r.name == "attendees")
    dataset = read_report(moto, bucket, attendees)
    part = dataset.to_table(filter=(ds.field("partner_id") == "5151") & (ds.field("dt") == "2026-12-02"))
    unit = next(
        u
        for u in summary["reports"]
        if u["report"] == "attendees" and u["partner_id"] == 5151 and u["window_start"].startswith("2026-12-02")
    )
    key = unit["s3_uri"].removeprefix(f"s3://{bucket}/")
    body = moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    rows = list(csv.reader(io.StringIO(body, newline="")))[1:]
    assert part.num_rows == len(rows) == unit["rows"] > 0
    read = [list(r) for r in zip(*(part.column(c).to_pylist() for c in attendees.columns), strict=True)]
    assert read == rows
    assert set(part.column("partner_id").to_pylist()) == {"5151"}
