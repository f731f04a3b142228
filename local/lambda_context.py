"""A stand-in for the Lambda context object, for local runs and tests (the attributes Powertools reads)."""

from __future__ import annotations

import time
import uuid


class LocalContext:
    """Carries the attributes Lambda's context has; remaining time counts down from ``timeout`` seconds."""

    function_name = "kaltura-export-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:kaltura-export-local"
    log_group_name = "/aws/lambda/kaltura-export-local"
    log_stream_name = "local"

    def __init__(self, timeout: float = 900.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
