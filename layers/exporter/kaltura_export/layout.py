"""Where everything lands in S3: pure functions of (report, partner, window), so a rerun overwrites."""

from __future__ import annotations

from .catalogue import Report
from .windows import Window


def _stem(report: Report, partner_id: int, window: Window) -> str:
    return (
        f"{report.name}/partner_id={partner_id}/dt={window.dt.isoformat()}/"
        f"{report.name}_{window.period.value}_{window.start_stamp}_{window.end_stamp}"
    )


def data_key(prefix: str, report: Report, partner_id: int, window: Window) -> str:
    """``<prefix>/<report>/partner_id=<pid>/dt=<date>/<report>_<period>_<startZ>_<endZ>.csv``."""
    return f"{prefix}/{_stem(report, partner_id, window)}.csv"


def manifest_key(prefix: str, report: Report, partner_id: int, window: Window) -> str:
    """The unit's manifest, outside the table locations so Athena never reads it as data."""
    return f"{prefix}/_manifests/{_stem(report, partner_id, window)}.json"


def run_key(prefix: str, run_id: str) -> str:
    """The run summary."""
    return f"{prefix}/_runs/{run_id}.json"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"
