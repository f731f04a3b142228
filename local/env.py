"""The fake AWS environment every local entry point sets first (tests, `make run`, the bench).

It imports nothing, so it can be applied before boto3 or Powertools are imported: fake credentials, a
region, no instance-metadata probing and no user config, so nothing can reach real AWS.
"""

from __future__ import annotations

import os

REGION = "us-east-1"


def fake_aws_env() -> dict[str, str]:
    """Variables that keep boto3 (and pyarrow) on fake credentials and off the metadata address."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
