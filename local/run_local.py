"""`make run`: the real export, end to end, on an embedded default.

Starts the Kaltura emulator and a moto server on 127.0.0.1, creates the bucket, topic and secret
(app-token credentials, the recommended shape), invokes the real Lambda handler with
events/scheduled.json, and prints the summary, the keys written with their row counts, and the
e-mail exactly as the notifier rendered it. Exits non-zero when the export failed.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from local.env import fake_aws_env

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    # fake AWS before boto3 or Powertools are imported: nothing may reach real AWS from here
    os.environ.update(fake_aws_env())
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "kaltura-export")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "KalturaExport")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # EMF metrics are CloudWatch's input, not the user's: keep them out of the printed run
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    sys.path[:0] = [str(ROOT / "functions/export"), str(ROOT / "layers/exporter")]

    from local.aws import MotoServer, create_stack
    from local.kaltura_emulator import KalturaEmulator
    from local.lambda_context import LocalContext

    event = json.loads((ROOT / "events/scheduled.json").read_text())
    emulator = KalturaEmulator(partner_id=4242, admin_secret=secrets.token_hex(16), seed=7)
    moto = MotoServer()
    emulator.start()
    try:
        os.environ["AWS_ENDPOINT_URL"] = moto.start()
        token_id, token = "1_" + secrets.token_hex(4), secrets.token_hex(16)
        emulator.add_app_token(token_id, token)
        stack = create_stack(
            moto,
            {"partner_id": emulator.partner_id, "app_token_id": token_id, "app_token": token, "hash_type": "SHA256"},
            name="kaltura-export-local",
        )
        os.environ.update(stack.env())
        os.environ["KALTURA_SERVICE_URL"] = emulator.url
        print(f"Kaltura emulator: {emulator.url} (partner {emulator.partner_id})")
        print(f"moto server:      {os.environ['AWS_ENDPOINT_URL']} (bucket {stack.bucket})")
        print(f"event:            {json.dumps(event)}\n")

        import app

        failed = False
        try:
            summary: dict[str, Any] = app.lambda_handler(event, LocalContext())
        except Exception as exc:  # the handler raises after notifying when the run FAILED
            failed = True
            print(f"The handler raised: {type(exc).__name__}: {exc}\n")
            run = getattr(exc, "summary", None)
            summary = run.to_dict() if run is not None else {}
        _print_summary(summary)
        _print_keys(moto, stack.bucket)
        _print_email(moto, stack.topic_arn)
        return 1 if failed or summary.get("status") != "SUCCEEDED" else 0
    finally:
        emulator.stop()
        moto.stop()


def _print_summary(summary: dict[str, Any]) -> None:
    print("== Summary ==")
    print(json.dumps(summary, indent=2))
    print()


def _print_keys(moto: Any, bucket: str) -> None:
    s3 = moto.client("s3")
    print(f"== Keys written to s3://{bucket} ==")
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            note = ""
            if key.endswith(".csv"):
                lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().count(b"\n")
                note = f"{lines - 1:>6} rows"
            print(f"{obj['Size']:>9} B  {note:>11}  {key}")
    print()


def _print_email(moto: Any, topic_arn: str) -> None:
    print("== Notification ==")
    sent = moto.sent_notifications(topic_arn)
    if not sent:
        print("(nothing was published)")
        return
    _, message, subject, attributes, _ = sent[-1]
    print(f"Subject: {subject}")
    print(f"status attribute: {attributes.get('status', {}).get('Value') if attributes else None}")
    print()
    print(json.loads(message)["email"])


if __name__ == "__main__":
    sys.exit(main())
