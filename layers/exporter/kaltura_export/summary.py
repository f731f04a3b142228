"""The run summary (DESIGN.md "Summary and notification"): returned, written to _runs/ and published."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["SUCCEEDED", "FAILED", "SKIPPED"]


def iso(instant: datetime) -> str:
    """ISO 8601 UTC with ``Z`` and whole seconds."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class UnitError:
    code: str
    message: str
    attempts: int
    action: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "attempts": self.attempts}


@dataclass
class UnitResult:
    """What happened to one (report, partner, window)."""

    report: str
    report_id: int
    partner_id: int | None
    window_start: str
    window_end: str
    dt: str
    status: Status
    rows: int | None = None
    bytes: int | None = None
    s3_uri: str | None = None
    drift: dict[str, list[str]] = field(default_factory=dict)
    error: UnitError | None = None
    attempts: int = 0
    duration_ms: int = 0
    #: run-level warnings this unit raises (a shrinking re-export, a concurrent run that won)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "report_id": self.report_id,
            "partner_id": self.partner_id,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "status": self.status,
            "rows": self.rows,
            "bytes": self.bytes,
            "s3_uri": self.s3_uri,
            "drift": self.drift,
            "error": None if self.error is None else self.error.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnitResult:
        """A unit result as ``to_dict`` wrote it (a Step Functions child's output, a plan's failed units)."""
        error = data.get("error")
        start = str(data["window_start"])
        return cls(
            report=str(data["report"]),
            report_id=int(data["report_id"]),
            partner_id=None if data.get("partner_id") is None else int(data["partner_id"]),
            window_start=start,
            window_end=str(data["window_end"]),
            dt=str(data.get("dt") or start[:10]),
            status=data["status"] if data.get("status") in ("SUCCEEDED", "FAILED", "SKIPPED") else "FAILED",
            rows=data.get("rows"),
            bytes=data.get("bytes"),
            s3_uri=data.get("s3_uri"),
            drift=dict(data.get("drift") or {}),
            error=None
            if not isinstance(error, Mapping)
            else UnitError(str(error.get("code")), str(error.get("message")), int(error.get("attempts") or 0)),
        )


@dataclass
class RunSummary:
    run_id: str
    trigger: Literal["schedule", "manual"]
    started_at: datetime
    finished_at: datetime | None = None
    partners: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reports: list[UnitResult] = field(default_factory=list)
    #: a failure of the run itself (bad event, settings or secret) rather than of one unit
    error: UnitError | None = None
    #: where the full summary lands, once written
    uri: str | None = None

    @property
    def status(self) -> Literal["SUCCEEDED", "FAILED"]:
        failed = self.error is not None or any(u.status == "FAILED" for u in self.reports)
        return "FAILED" if failed else "SUCCEEDED"

    def count(self, status: Status) -> int:
        return sum(1 for u in self.reports if u.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_id": self.run_id,
            "trigger": self.trigger,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at or self.started_at),
            "partners": list(self.partners),
            "warnings": list(self.warnings),
            "reports": [u.to_dict() for u in self.reports],
            "error": None if self.error is None else self.error.to_dict(),
        }
