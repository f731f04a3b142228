"""Lambda entry point: parse settings, build the collaborators once per container, call the core."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from kaltura_export.aws import Connection
from kaltura_export.errors import ConfigError
from kaltura_export.run import Services, handle, settings_failure
from kaltura_export.settings import Settings
from kaltura_export.telemetry import PowertoolsTelemetry, harden_logging

logger = Logger()
metrics = Metrics()

_services: dict[tuple[str, ...], Services] = {}


def _build_services() -> Services:
    """AWS clients for this container, built on first use and reused while warm."""
    key = tuple(os.environ.get(k, "") for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"))
    if key in _services:
        return _services[key]
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    aws = Connection()
    secrets = SecretsProvider(boto3_session=aws.session, boto_config=aws.config)

    def read_secret(name: str, force: bool) -> str | bytes:
        # a SecretBinary comes back as bytes: the core names that instead of guessing at it
        value = secrets.get(name, max_age=300, force_fetch=force)
        return value if isinstance(value, bytes) else str(value)

    services = Services(
        s3=aws.s3,
        sns=aws.sns,
        read_secret=read_secret,
        telemetry=PowertoolsTelemetry(metrics),
    )
    _services[key] = services
    return services


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path="execution_id", clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Export what the event asks for; raises after notifying when the run FAILED."""
    harden_logging(logger.registered_handler)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        logger.error("invalid configuration", extra={"error": exc.message})
        settings_failure(exc, os.environ, _build_services())
        raise
    services = dataclasses.replace(_build_services(), remaining=lambda: context.get_remaining_time_in_millis() / 1000)
    return handle(event, settings, services)
