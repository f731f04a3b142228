"""`kaltura-export status`: per report and partner, which periods are landed (when, rows, drift), missing or failed.

Landed = a manifest for the window of today's period grid. Failed = not landed and the newest run summary (of the
``runs`` read from ``_runs/``) that tried it says FAILED. Missing = neither. Reads only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TextIO

from . import ledger
from .coverage import on_grid
from .settings import Settings
from .windows import Window, manual_windows

_PARTNER = re.compile(r"partner_id=(\d+)/$")


@dataclass
class Period:
    window: Window
    state: str  # LANDED | MISSING | FAILED
    rows: int | None = None
    landed_at: str | None = None
    drift: str = ""
    error: str = ""


@dataclass
class Block:
    report: str
    partner_id: int
    first: date
    last: date
    periods: list[Period] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for p in self.periods if p.state == state)


def coverage(s3: Any, settings: Settings, first: date | None, last: date | None, *, runs: int = 30) -> list[Block]:
    """One block per (report, partner) found in the manifests or the recent run summaries."""
    tz = settings.tz
    last = last or (datetime.now(tz) - timedelta(days=1)).date()
    attempts = _recent_attempts(s3, settings, runs)
    blocks: list[Block] = []
    for report in settings.reports:
        folders = ledger.list_folders(s3, settings.bucket, f"{settings.prefix}/_manifests/{report.name}/")
        partners = {int(m.group(1)) for f in folders if (m := _PARTNER.search(f))}
        partners |= {pid for (name, pid, _) in attempts if name == report.name and pid is not None}
        for pid in sorted(partners):
            refs = ledger.manifests(s3, settings.bucket, settings.prefix, report.name, pid)
            landed = on_grid(refs, settings.period, tz)
            start = first or (min(landed).astimezone(tz).date() if landed else last - timedelta(days=6))
            if start > last:
                continue
            block = Block(report.name, pid, start, last)
            windows = manual_windows(start, last, settings.period, tz)
            keys = {w.start: landed[w.start].key for w in windows if w.start in landed}
            with ThreadPoolExecutor(max_workers=8) as pool:
                docs = dict(
                    zip(keys, pool.map(lambda k: ledger.get_json(s3, settings.bucket, k), keys.values()), strict=True)
                )
            for window in windows:
                doc = docs.get(window.start)
                if isinstance(doc, dict):
                    drift = doc.get("drift") or {}
                    text = "; ".join(
                        f"{kind} {', '.join(drift[kind])}" for kind in ("added", "dropped") if drift.get(kind)
                    )
                    block.periods.append(Period(window, "LANDED", doc.get("rows"), doc.get("finished_at"), text))
                    continue
                tried = attempts.get((report.name, pid, window.iso_start()))
                if tried is not None and tried[0] == "FAILED":
                    block.periods.append(Period(window, "FAILED", error=f"{tried[1]} (run {tried[2]})"))
                else:
                    block.periods.append(Period(window, "MISSING"))
            blocks.append(block)
    return blocks


def _recent_attempts(s3: Any, settings: Settings, runs: int) -> dict[tuple[str, int | None, str], tuple[str, str, str]]:
    """(report, partner, window start) → (status, error code, run id) of the newest run that tried the unit."""
    if runs <= 0:
        return {}
    keys = sorted(ledger.list_keys(s3, settings.bucket, f"{settings.prefix}/_runs/"), reverse=True)[:runs]
    out: dict[tuple[str, int | None, str], tuple[str, str, str]] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        summaries = list(pool.map(lambda k: ledger.get_json(s3, settings.bucket, k), keys))
    for summary in summaries:  # newest first: the first word on a unit is the last one said
        if not isinstance(summary, dict):
            continue
        for unit in summary.get("reports", []):
            key = (unit.get("report"), unit.get("partner_id"), unit.get("window_start"))
            if key not in out and unit.get("status") in ("SUCCEEDED", "FAILED"):
                error = unit.get("error") or {}
                out[key] = (unit["status"], str(error.get("code", "")), str(summary.get("run_id")))
    return out


def render(blocks: Iterable[Block], out: TextIO, *, gaps_only: bool = False) -> None:
    blocks = list(blocks)
    if not blocks:
        print("nothing landed yet under this prefix (and no run summary names a unit)", file=out)
        return
    for block in blocks:
        rows = sum(p.rows or 0 for p in block.periods)
        drifted = sum(1 for p in block.periods if p.drift)
        print(
            f"{block.report} partner {block.partner_id}, {block.first} .. {block.last}: "
            f"{block.count('LANDED')} of {len(block.periods)} landed, {block.count('MISSING')} missing, "
            f"{block.count('FAILED')} failed; {rows} rows; drift in {drifted}",
            file=out,
        )
        print(f"  {'period (dt)':<12} {'status':<8} {'rows':>8}  {'landed at':<21} drift / error", file=out)
        for p in block.periods:
            if gaps_only and p.state == "LANDED":
                continue
            rows_text = "" if p.rows is None else str(p.rows)
            print(
                f"  {p.window.dt.isoformat():<12} {p.state:<8} {rows_text:>8}  {p.landed_at or '':<21} "
                f"{p.drift or p.error}".rstrip(),
                file=out,
            )
