"""The function's side of the Step Functions backfill, through the real handler against moto and the emulator:
plan → each unit item → the Map's ResultWriter files (written here in Step Functions' documented format, since no
Step Functions runs locally) → summary: one run summary, one notification."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kaltura_export.errors import EventError
from local.aws import MotoServer, Stack, received
from local.kaltura_emulator import KalturaEmulator
from tests.conftest import load_event


def body(moto: MotoServer, bucket: str, key: str) -> Any:
    return json.loads(moto.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_plan_units_and_summary(
    invoke: Callable[..., dict[str, Any]], moto_server: MotoServer, stack: Stack, emulator: KalturaEmulator
) -> None:
    event = load_event("plan.json") | {"request": {"from": "2026-02-01", "to": "2026-02-02"}, "plan_id": "bf-1"}
    event["max_concurrency"] = "16"
    plan = invoke(event, stack, MAX_CONCURRENCY="3")
    assert plan["max_concurrency"] == 3  # lowered to MAX_CONCURRENCY: a backfill never loads Kaltura more
    assert (plan["units"], plan["key"]) == (6, "kaltura/_backfill/bf-1/units.json")
    items = body(moto_server, stack.bucket, plan["key"])
    assert len(items) == 6 and all(i["mode"] == "unit" and i["partner_id"] == 4242 for i in items)
    assert received(moto_server, stack) == []  # planning notifies nobody

    # the Map: each item through the same handler; one crashes as a Lambda error would (no output)
    executions = []
    emulator.faults.add("SEARCH_TOO_GENERAL", report_id=6002, times=1)
    for n, item in enumerate(items):
        if n == 0:
            executions.append({"Input": json.dumps(item), "Status": "FAILED", "Error": "Lambda.Unknown", "Cause": "x"})
            continue
        output = invoke(item, stack)
        executions.append({"Input": json.dumps(item), "Status": "SUCCEEDED", "Output": json.dumps(output)})
    assert received(moto_server, stack) == []  # units never notify
    s3 = moto_server.client("s3")
    results = f"{plan['results_prefix']}/run-1"
    ok = [e for e in executions if e["Status"] == "SUCCEEDED"]
    bad = [e for e in executions if e["Status"] == "FAILED"]
    s3.put_object(Bucket=stack.bucket, Key=f"{results}/SUCCEEDED_0.json", Body=json.dumps(ok))
    s3.put_object(Bucket=stack.bucket, Key=f"{results}/FAILED_0.json", Body=json.dumps(bad))
    manifest = {
        "DestinationBucket": stack.bucket,
        "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:x/Units:run-1",
        "ResultFiles": {
            "FAILED": [{"Key": f"{results}/FAILED_0.json", "Size": 1}],
            "PENDING": [],
            "SUCCEEDED": [{"Key": f"{results}/SUCCEEDED_0.json", "Size": 1}],
        },
    }
    s3.put_object(Bucket=stack.bucket, Key=f"{results}/manifest.json", Body=json.dumps(manifest))

    summary = invoke(
        {"mode": "summary", "plan_id": "bf-1", "map": {"MapRunArn": "arn", "ResultWriterDetails": {}}}, stack
    )
    assert summary["status"] == "FAILED" and summary["trigger"] == "manual"
    outcome = sorted((u["report"], u["window_start"][:10], u["status"]) for u in summary["reports"])
    assert len(outcome) == 6
    failed = {(u["report"], u["error"]["code"]) for u in summary["reports"] if u["status"] == "FAILED"}
    assert failed == {(items[0]["report"], "Lambda.Unknown"), ("breakout_rooms", "SEARCH_TOO_GENERAL")}
    assert body(moto_server, stack.bucket, f"kaltura/_runs/{summary['run_id']}.json")["status"] == "FAILED"
    (message,) = received(moto_server, stack)
    assert message["Subject"].startswith("FAILED") and message["MessageAttributes"]["status"]["Value"] == "FAILED"


def test_a_failed_map_still_summarises_every_planned_unit(
    invoke: Callable[..., dict[str, Any]], moto_server: MotoServer, stack: Stack
) -> None:
    event = {"mode": "plan", "request": {"from": "2026-02-01", "to": "2026-02-01", "reports": ["rooms"]}}
    invoke(event | {"plan_id": "bf-2", "max_concurrency": 2}, stack)
    caught = {"Error": "States.ItemReaderFailed", "Cause": "could not read units.json"}
    summary = invoke({"mode": "summary", "plan_id": "bf-2", "map": caught}, stack)
    (unit,) = summary["reports"]
    assert unit["status"] == "FAILED" and unit["error"]["code"] == "NOT_RUN"
    assert "could not read units.json" in unit["error"]["message"]


def test_reserved_concurrency_keeps_one_execution_for_the_schedule(
    invoke: Callable[..., dict[str, Any]], stack: Stack
) -> None:
    event = {"mode": "plan", "request": {"from": "2026-02-01", "to": "2026-02-01"}, "plan_id": "bf-3"}
    assert invoke(event | {"max_concurrency": "4", "reserved_concurrency": "3"}, stack)["max_concurrency"] == 2
    with pytest.raises(EventError, match="ReservedConcurrency 1 leaves no execution"):
        invoke(event | {"max_concurrency": "4", "reserved_concurrency": "1"}, stack)
