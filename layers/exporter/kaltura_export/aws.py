"""AWS clients for an entry point (the Lambda handler, the CLI): one session, one retry policy, SNS on demand."""

from __future__ import annotations

import threading
from typing import Any


class Connection:
    """A boto3 session with the exporter's client configuration; the SNS client is built on first use."""

    def __init__(self, pool: int = 32) -> None:
        # imported here, not at module load: a run that fails on its settings never pays for boto3
        import boto3
        from botocore.config import Config

        # botocore's standard mode retries throttling and 5xx on every AWS call; the exporter's own
        # retries (retries.py) are for Kaltura only
        self.config = Config(
            retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, max_pool_connections=pool
        )
        self.session = boto3.session.Session()
        self.s3 = self.client("s3")
        self._sns: Any = None
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        return self.session.client(service, config=self.config)

    def sns(self) -> Any:
        """The SNS client (a run without a topic never builds one)."""
        with self._lock:
            if self._sns is None:
                self._sns = self.client("sns")
            return self._sns
