"""The per-unit manifest: what landed, how it was checked, and how long it took."""

from __future__ import annotations

from typing import Any

from . import __version__
from .catalogue import Report
from .normalise import NormaliseStats
from .sink import Landed
from .summary import iso
from .windows import Window

MANIFEST_VERSION = 1


def build_manifest(
    *,
    report: Report,
    partner_id: int,
    window: Window,
    bucket: str,
    landed: Landed,
    stats: NormaliseStats,
    params: str,
    attempts: int,
    run_id: str,
    started_at: Any,
    finished_at: Any,
    split: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest document for a landed unit (``params`` carries dates and filters, never the KS)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "status": "SUCCEEDED",
        "report": report.name,
        "report_id": report.id,
        "partner_id": partner_id,
        "period": window.period.value,
        "window_start": window.iso_start(),
        "window_end": window.iso_end(),
        "dt": window.dt.isoformat(),
        "s3_uri": f"s3://{bucket}/{landed.key}",
        "rows": stats.rows,
        "bytes": landed.bytes,
        "sha256": landed.sha256,
        "s3": {
            "etag": landed.etag,
            "version_id": landed.version_id,
            "parts": landed.parts,
            "part_size": landed.part_size,
            "checksum_sha256": landed.checksum_sha256,
            "checksum_type": landed.checksum_type,
        },
        "columns": list(report.columns),
        "source_columns": list(stats.source_columns),
        "drift": {"added": list(stats.added), "dropped": list(stats.dropped), "excluded": list(stats.excluded)},
        "newlines_replaced": stats.newlines_replaced,
        "bytes_from_kaltura": stats.bytes_in,
        "params": params,
        "attempts": attempts,
        "split": split,
        "run_id": run_id,
        "started_at": iso(started_at),
        "finished_at": iso(finished_at),
        "duration_ms": int((finished_at - started_at).total_seconds() * 1000),
        "code_version": __version__,
    }
