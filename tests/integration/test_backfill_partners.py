"""Several partners in one deployment (KALTURA_SECRET_ARNS): each lands under its own partner_id=, and one
partner's bad credentials fail only its units. Two emulators, one per Kaltura account, over HTTP; moto for AWS."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from kaltura_export.cli import main
from local.aws import MotoServer, Stack
from local.kaltura_emulator import KalturaEmulator


@pytest.fixture
def other_account() -> Iterator[KalturaEmulator]:
    emu = KalturaEmulator(partner_id=5151, admin_secret=secrets.token_hex(16), seed=11)
    emu.start()
    yield emu
    emu.stop()


def put_secret(moto: MotoServer, name: str, value: dict[str, Any]) -> str:
    arn: str = moto.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
    return arn


def test_two_partners_and_a_bad_secret(
    monkeypatch: pytest.MonkeyPatch,
    moto_server: MotoServer,
    stack: Stack,
    emulator: KalturaEmulator,
    other_account: KalturaEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token_id, token = "1_" + secrets.token_hex(4), secrets.token_hex(16)
    other_account.add_app_token(token_id, token)
    second = put_secret(
        moto_server,
        f"{stack.bucket}/second",
        # another account, on another server: the secret's service_url overrides KALTURA_SERVICE_URL
        {"partner_id": 5151, "app_token_id": token_id, "app_token": token, "service_url": other_account.url},
    )
    bad = put_secret(
        moto_server,
        f"{stack.bucket}/bad",
        {"partner_id": 6161, "admin_secret": "f" * 32, "user_id": "exporter", "service_url": other_account.url},
    )
    for k, v in {"KALTURA_SERVICE_URL": emulator.url, "RETRY_BASE_DELAY": "0", "TIMEZONE": "UTC"}.items():
        monkeypatch.setenv(k, v)
    for k, v in stack.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("KALTURA_SECRET_ARN")
    monkeypatch.setenv("KALTURA_SECRET_ARNS", ",".join([stack.secret_id, second, bad]))
    for k in ("REPORTS", "PERIOD", "MAX_CONCURRENCY", "EXPORT_PREFIX"):
        monkeypatch.delenv(k, raising=False)

    code = main(["backfill", "--from", "2026-02-02", "--to", "2026-02-03", "--notify", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    s3 = moto_server.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix="kaltura/")
    data = [o["Key"] for p in pages for o in p.get("Contents", []) if o["Key"].endswith(".csv")]
    by_partner: dict[str, int] = {}
    for key in data:
        by_partner[key.split("/")[2]] = by_partner.get(key.split("/")[2], 0) + 1
    assert by_partner == {"partner_id=4242": 6, "partner_id=5151": 6}
    # each partner's rows came from its own account
    assert len(emulator.calls) == 6 and len(other_account.calls) == 6

    uri = [line for line in out.splitlines() if line.startswith("Full summary: s3://")][-1].split(" ", 2)[2]
    summary = json.loads(s3.get_object(Bucket=stack.bucket, Key=uri.split("/", 3)[3])["Body"].read())
    assert summary["status"] == "FAILED" and summary["partners"] == [4242, 5151, 6161]
    outcome = {(u["partner_id"], u["status"]) for u in summary["reports"]}
    assert outcome == {(4242, "SUCCEEDED"), (5151, "SUCCEEDED"), (6161, "FAILED")}
    # grouped by partner, in the order of the secrets
    assert [u["partner_id"] for u in summary["reports"]] == [4242] * 6 + [5151] * 6 + [6161] * 6
    failed = [u for u in summary["reports"] if u["status"] == "FAILED"]
    assert {u["error"]["code"] for u in failed} == {"START_SESSION_ERROR"}
    assert "partner 6161" in out and "FAILED: 6 of 18 report exports failed" in out
    # --notify: one message, FAILED
    (message,) = [m for m in moto_server.sent_notifications(stack.topic_arn) if stack.bucket in m[1]]
    assert message[2].startswith("FAILED")
    assert "f" * 32 not in out
