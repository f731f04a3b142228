"""A moto server on 127.0.0.1 with the bucket, topic, secret and an SQS subscriber the exporter needs.

Development only (tests and `make run`); nothing here ships in the layer.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from local.env import REGION, fake_aws_env

__all__ = ["REGION", "MotoServer", "Stack", "create_stack", "fake_aws_env", "received"]

ACCOUNT = "123456789012"


class MotoServer:
    """moto in server mode on 127.0.0.1, port 0; clients reach it through AWS_ENDPOINT_URL."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> str:
        # werkzeug logs every request at INFO to stderr; the runner's output is for the user
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION)

    def sent_notifications(self, topic_arn: str) -> list[tuple[Any, ...]]:
        """What SNS received, with every protocol's text (an SQS subscriber only ever gets ``default``).

        moto documents this as an internal API of its SNS backend; good enough for a local runner.
        """
        from moto.sns.models import sns_backends

        topic = sns_backends[ACCOUNT][REGION].topics[topic_arn]
        return list(topic.sent_notifications)


@dataclass
class Stack:
    """One exporter's worth of AWS resources on the moto server."""

    bucket: str
    topic_arn: str
    queue_url: str
    secret_id: str

    def env(self) -> dict[str, str]:
        return {
            "EXPORT_BUCKET": self.bucket,
            "NOTIFY_TOPIC_ARN": self.topic_arn,
            "KALTURA_SECRET_ARN": self.secret_id,
        }


def create_stack(moto: MotoServer, secret_value: str | dict[str, Any], *, name: str | None = None) -> Stack:
    """A versioned bucket, a topic with an SQS subscriber, and the secret."""
    name = name or f"kx-{uuid.uuid4().hex[:10]}"
    s3, sns, sqs, sm = (moto.client(s) for s in ("s3", "sns", "sqs", "secretsmanager"))
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    value = secret_value if isinstance(secret_value, str) else json.dumps(secret_value)
    secret_id = sm.create_secret(Name=f"{name}/kaltura", SecretString=value)["ARN"]
    return Stack(bucket=name, topic_arn=topic_arn, queue_url=queue_url, secret_id=secret_id)


def received(moto: MotoServer, stack: Stack) -> list[dict[str, Any]]:
    """SNS envelopes the stack's SQS subscriber received so far (each with Subject, Message, attributes)."""
    sqs = moto.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        resp = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = resp.get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])


def apply_env(values: dict[str, str]) -> None:
    os.environ.update(values)
