"""The roles the SAM transform generates, statement by statement: least privilege that checkov cannot see.

template.yaml is translated by aws-sam-translator (the SAM CLI's copy, as CloudFormation's transform would),
then the roles' policies are evaluated for concrete parameters and compared with the exact list the code needs.
"""

from __future__ import annotations

import fnmatch
import json
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kaltura_export.catalogue import REPORTS
from kaltura_export.layout import data_key, manifest_key, run_key
from kaltura_export.windows import Period, manual_windows
from tests.deploy.cfn import ACCOUNT, REGION, Stack, statements
from tests.deploy.conftest import REQUIRED, translated

ROLE_TYPE = "AWS::IAM::Role"
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def deploy(**parameters: str) -> Stack:
    values = REQUIRED | parameters
    return Stack(translated(json.dumps(values, sort_keys=True)), values)


def role_statements(stack: Stack, role: str) -> list[dict[str, Any]]:
    props = stack.properties(role)
    out: list[dict[str, Any]] = []
    for policy in props.get("Policies", []):
        out += statements(policy["PolicyDocument"])
    return out


def test_the_transform_generates_only_the_function_schedule_and_backfill_roles() -> None:
    stack = deploy()
    expected = {"ExportFunctionRole", "ExportFunctionScheduleRole", "BackfillStateMachineRole"}
    assert set(stack.of_type(ROLE_TYPE)) == expected
    assert stack.properties("ExportFunction")["Role"] == stack.get_att("ExportFunctionRole", "Arn")


def test_function_role_is_exactly_what_the_exporter_calls() -> None:
    stack = deploy(
        KalturaSecretNames="kaltura/university,kaltura/medical-school",
        KalturaSecretKmsKeyArn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0000aaaa-0000-4000-8000-000000000001",
        ExportBucketName="analytics-landing",
        ExportPrefix="exports/kaltura",
    )
    props = stack.properties("ExportFunctionRole")
    # CloudWatch Logs (create stream, put events) and nothing else managed
    assert props["ManagedPolicyArns"] == [BASIC_EXECUTION]
    assert props["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["lambda.amazonaws.com"]}

    topic = stack.ref("NotifyTopic")
    expected: list[dict[str, Any]] = [
        # EventInvokeConfig's OnFailure destination (added by the transform)
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [stack.get_att("FailureQueue", "Arn")]},
        {
            "Sid": "ReadKalturaCredentials",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*"],
            "Condition": {
                "StringEquals": {"secretsmanager:SecretId": ["kaltura/university", "kaltura/medical-school"]}
            },
        },
        {
            "Sid": "DecryptKalturaCredentials",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0000aaaa-0000-4000-8000-000000000001"],
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}},
        },
        {
            "Sid": "WriteAndReadExports",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            "Resource": ["arn:aws:s3:::analytics-landing/exports/kaltura/*"],
        },
        {
            "Sid": "ReadBackChecksums",
            "Effect": "Allow",
            "Action": ["s3:GetObjectAttributes", "s3:GetObjectVersion", "s3:GetObjectVersionAttributes"],
            "Resource": ["arn:aws:s3:::analytics-landing/exports/kaltura/*"],
        },
        {
            "Sid": "ListExports",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": ["arn:aws:s3:::analytics-landing"],
            "Condition": {"StringLike": {"s3:prefix": ["exports/kaltura/*"]}},
        },
        {"Sid": "PublishRunSummary", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": [topic]},
        {
            "Sid": "EncryptForNotifyTopic",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": [stack.get_att("NotifyKey", "Arn")],
            "Condition": {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}},
        },
    ]
    assert role_statements(stack, "ExportFunctionRole") == expected
    # and the function is configured with exactly these resources
    env = stack.properties("ExportFunction")["Environment"]["Variables"]
    assert (env["EXPORT_BUCKET"], env["EXPORT_PREFIX"], env["NOTIFY_TOPIC_ARN"]) == (
        "analytics-landing",
        "exports/kaltura",
        topic,
    )
    assert env["KALTURA_SECRET_ARNS"].split(",") == expected[1]["Condition"]["StringEquals"]["secretsmanager:SecretId"]


def test_defaults_name_the_created_bucket_and_no_secret_key() -> None:
    stack = deploy()
    found = {s.get("Sid"): s for s in role_statements(stack, "ExportFunctionRole")}
    assert "DecryptKalturaCredentials" not in found
    bucket = stack.ref("ExportBucket")
    assert found["WriteAndReadExports"]["Resource"] == [f"arn:aws:s3:::{bucket}/kaltura/*"]
    assert found["ListExports"]["Resource"] == [f"arn:aws:s3:::{bucket}"]
    assert found["ReadKalturaCredentials"]["Condition"] == {
        "StringEquals": {"secretsmanager:SecretId": ["kaltura/university"]}
    }


def test_no_wildcard_actions_or_resources() -> None:
    stack = deploy()
    for role in stack.of_type(ROLE_TYPE):
        for s in role_statements(stack, role):
            assert s["Effect"] == "Allow"
            assert all("*" not in a for a in s["Action"]), (role, s)
            assert all(r != "*" and not r.endswith(":*:*") for r in s["Resource"]), (role, s)


@pytest.mark.parametrize("prefix", ["kaltura", "exports/kaltura"])
def test_every_key_the_exporter_writes_is_inside_the_grant(prefix: str) -> None:
    stack = deploy(ExportPrefix=prefix, ExportBucketName="analytics-landing")
    found = {s.get("Sid"): s for s in role_statements(stack, "ExportFunctionRole")}
    (pattern,) = found["WriteAndReadExports"]["Resource"]
    (listing,) = found["ListExports"]["Condition"]["StringLike"]["s3:prefix"]
    window = manual_windows(date(2026, 11, 1), date(2026, 11, 1), Period.HOURLY, ZoneInfo("America/New_York"))[0]
    keys = [run_key(prefix, "20261101T020000Z-abcdef12")]
    for report in REPORTS:
        keys += [data_key(prefix, report, 4242, window), manifest_key(prefix, report, 4242, window)]
    for key in keys:
        assert fnmatch.fnmatchcase(f"arn:aws:s3:::analytics-landing/{key}", pattern), key
        assert fnmatch.fnmatchcase(key, listing), key
    assert not fnmatch.fnmatchcase("arn:aws:s3:::analytics-landing/athena-results/x.csv", pattern)


def test_schedule_role_may_only_invoke_the_function_and_reach_its_dead_letter_queue() -> None:
    stack = deploy()
    props = stack.properties("ExportFunctionScheduleRole")
    assert props["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["scheduler.amazonaws.com"]}
    assert "ManagedPolicyArns" not in props
    assert role_statements(stack, "ExportFunctionScheduleRole") == [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [stack.get_att("ExportFunction", "Arn")]},
        {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [stack.get_att("ScheduleDeadLetterQueue", "Arn")],
        },
    ]


def test_translated_schedule_and_invoke_config() -> None:
    stack = deploy()
    (schedule,) = stack.of_type("AWS::Scheduler::Schedule")
    target = stack.properties(schedule)["Target"]
    assert json.loads(target["Input"]).keys() == {"scheduled_time", "execution_id", "schedule_arn"}
    assert "Name" not in stack.properties(schedule)  # OmitName: CloudFormation generates one
    (config,) = stack.of_type("AWS::Lambda::EventInvokeConfig")
    invoke = stack.properties(config)
    assert invoke["MaximumRetryAttempts"] == 0
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == stack.get_att("FailureQueue", "Arn")
