"""What has landed, read from manifest keys alone: the gaps a scheduled run heals and the rows of `status`.

Pure: keys in, windows out. A manifest exists only for a unit that landed (a failed unit writes none), so a
window of the period grid with no manifest key is one that is missing or whose every export failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from .windows import Period, Window, window_containing, window_starting

_NAME = re.compile(
    r"^(?P<report>[a-z_]+)/partner_id=(?P<pid>\d+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/"
    r"(?P=report)_(?P<period>[a-z]+)_(?P<start>\d{8}T\d{6}Z)_(?P<end>\d{8}T\d{6}Z)\.json$"
)


@dataclass(frozen=True)
class ManifestRef:
    """One manifest key, parsed: which unit it records."""

    key: str
    report: str
    partner_id: int
    period: str
    start: datetime
    end: datetime


def manifests_prefix(prefix: str, report: str, partner_id: int | None = None) -> str:
    """Where the manifests of one report (and one partner) are listed."""
    base = f"{prefix}/_manifests/{report}/"
    return base if partner_id is None else f"{base}partner_id={partner_id}/"


def parse_manifest_key(prefix: str, key: str) -> ManifestRef | None:
    """The unit a manifest key names (layout.manifest_key's inverse), or None for any other key."""
    head = f"{prefix}/_manifests/"
    if not key.startswith(head):
        return None
    match = _NAME.match(key[len(head) :])
    if not match:
        return None
    return ManifestRef(
        key=key,
        report=match["report"],
        partner_id=int(match["pid"]),
        period=match["period"],
        start=_stamp(match["start"]),
        end=_stamp(match["end"]),
    )


def on_grid(refs: list[ManifestRef], period: Period, tz: ZoneInfo) -> dict[datetime, ManifestRef]:
    """The manifests of windows of today's period grid, by window start; others (another PERIOD or TIMEZONE
    before a change of settings) are no evidence about today's windows."""
    out: dict[datetime, ManifestRef] = {}
    for ref in refs:
        if ref.period != period.value:
            continue
        try:
            window = window_starting(ref.start, period, tz)
        except ValueError:
            continue
        if window.end == ref.end:
            out[ref.start] = ref
    return out


def windows_between(first: datetime, before: datetime, period: Period, tz: ZoneInfo) -> list[Window]:
    """Every window of the grid from the one holding ``first`` up to (not including) the one holding ``before``."""
    out: list[Window] = []
    if first >= before:
        return out
    window = window_containing(first, period, tz)
    while window.start < before:
        out.append(window)
        window = window_containing(window.end, period, tz)
    return out


def gaps(landed: dict[datetime, ManifestRef], before: datetime, period: Period, tz: ZoneInfo) -> list[Window]:
    """Windows since the first landed one, ending at or before ``before``, that have no manifest; oldest first."""
    if not landed:
        return []
    return [w for w in windows_between(min(landed), before, period, tz) if w.start not in landed]


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
