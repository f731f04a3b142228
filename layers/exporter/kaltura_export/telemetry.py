"""CloudWatch metrics (EMF through Powertools): rows, bytes, duration and failures per report, and run outcomes."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from .redact import RedactingFilter
from .summary import RunSummary, UnitResult

_NOISY = ("botocore", "boto3", "urllib3", "s3transfer")


class PowertoolsTelemetry:
    """Per-unit metrics carry a ``report`` dimension; run metrics go to the handler's Metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def unit_done(self, result: UnitResult) -> None:
        # a report dimension per unit needs its own EMF document; EphemeralMetrics keeps it apart from the run's
        unit = EphemeralMetrics(namespace=self._metrics.namespace, service=self._metrics.service)
        unit.add_dimension(name="report", value=result.report)
        if result.status == "SUCCEEDED":
            unit.add_metric(name="ReportRows", unit=MetricUnit.Count, value=result.rows or 0)
            unit.add_metric(name="ReportBytes", unit=MetricUnit.Bytes, value=result.bytes or 0)
            unit.add_metric(name="ReportDuration", unit=MetricUnit.Milliseconds, value=result.duration_ms)
        unit.add_metric(name="ReportFailures", unit=MetricUnit.Count, value=1 if result.status == "FAILED" else 0)
        unit.flush_metrics()

    def run_done(self, summary: RunSummary) -> None:
        ok = summary.status == "SUCCEEDED"
        # the "no successful export" alarm watches the schedule: a manual run or backfill must not silence it
        if summary.trigger == "schedule":
            self._metrics.add_metric(name="SuccessfulExports", unit=MetricUnit.Count, value=1 if ok else 0)
        self._metrics.add_metric(name="FailedExports", unit=MetricUnit.Count, value=0 if ok else 1)
        self._metrics.add_metric(name="FailedUnits", unit=MetricUnit.Count, value=summary.count("FAILED"))


def harden_logging(*handlers: logging.Handler) -> None:
    """Hold botocore and urllib3 at INFO or above (at DEBUG botocore logs Secrets Manager's answer, secret
    included), and redact every record that reaches ``handlers`` or a handler of the root logger."""
    for name in _NOISY:
        log = logging.getLogger(name)
        if log.getEffectiveLevel() < logging.INFO:
            log.setLevel(logging.INFO)
    for handler in (*logging.getLogger().handlers, *handlers):
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
