"""Splitting a result that reached ROW_CAP into disjoint parts by room (DESIGN.md "Kaltura facts").

Kaltura returns at most ROW_CAP rows per call and drops the rest without a word. Attendees are split
by batches of ``entry_ids`` and breakout rooms by batches of ``parentEntryIds``, with the rooms taken
from the rooms report of the same window. Each part is checked before anything lands: its rows belong
to its batch (a filter the server ignored would return the same rows again), it is under the cap (else
its batch is halved), and every room seen in the capped result is in some batch. A time window is never
split: a session that straddles the cut would appear in both halves with partial metrics.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from .catalogue import ATTENDEES, BREAKOUT_ROOMS, ROOMS, Report
from .errors import ExportError, RowCapError
from .normalise import NormaliseStats

CHUNK = 1 << 20


class SplitError(ExportError):
    """No safe split exists, or a part failed its checks: nothing is landed."""

    code = "SPLIT_FAILED"
    action = "use a shorter PERIOD or narrower filters so that one call stays under the row cap"


@dataclass
class Part:
    """One normalised body kept on disk (landed CSV, header included) until every part is checked."""

    body: IO[bytes]
    stats: NormaliseStats
    keys: set[str]
    batch: tuple[str, ...] = ()

    def rows(self) -> Iterator[bytes]:
        """The part's landed bytes after its header line."""
        self.body.seek(0)
        self.body.readline()
        while chunk := self.body.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self.body.close()


#: (report, filters by setting name, key column) -> the normalised part; raises RowCapError at the cap
FetchPart = Callable[[Report, Mapping[str, tuple[str, ...]], str | None], Part]


@dataclass
class Split:
    """The checked parts of a split result, and what the manifest says about them."""

    parts: list[Part] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def stats(self, columns: tuple[str, ...]) -> NormaliseStats:
        first = self.parts[0].stats if self.parts else NormaliseStats()
        combined = NormaliseStats(source_columns=list(first.source_columns), excluded=list(first.excluded))
        for p in self.parts:
            combined.rows += p.stats.rows
            combined.bytes_in += p.stats.bytes_in
            combined.newlines_replaced += p.stats.newlines_replaced
            combined.added += [c for c in p.stats.added if c not in combined.added]
            combined.dropped += [c for c in p.stats.dropped if c not in combined.dropped]
        combined.header_only = combined.rows == 0
        return combined

    def landed_chunks(self, header: bytes) -> Iterator[bytes]:
        yield header
        for p in self.parts:
            yield from p.rows()

    def close(self) -> None:
        for p in self.parts:
            p.close()


def splittable(report: Report) -> bool:
    return report in (ATTENDEES, BREAKOUT_ROOMS)


def split(
    report: Report,
    filters: Mapping[str, tuple[str, ...]],
    capped_keys: set[str],
    row_cap: int,
    fetch: FetchPart,
    concurrency: int,
) -> Split:
    """Fetch ``report`` again in disjoint, checked parts by room; raises SplitError when that is not safe."""
    if not splittable(report):
        raise SplitError(
            f"the {report.name} report reached the cap of {row_cap} rows and cannot be split safely "
            "(only attendees and breakout rooms split by room)"
        )
    rooms = _room_ids(report, filters, fetch, row_cap)
    lost = sorted(capped_keys - set(rooms))
    if lost:
        raise SplitError(
            f"{len(lost)} room(s) in the capped {report.name} result are not in the rooms report of the same "
            f"window (e.g. {lost[0]}): splitting would lose their rows"
        )
    by = report.filters["ENTRY_IDS"]
    result = Split(details={"reason": f"the result reached the cap of {row_cap} rows", "by": by, "rooms": len(rooms)})
    pending = _halves(tuple(rooms))
    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="split") as pool:
            while pending:
                outcomes = list(pool.map(lambda b: _try(report, filters, b, fetch), pending))
                result.parts += [o for _, o in outcomes if isinstance(o, Part)]
                pending = []
                for batch, outcome in outcomes:
                    if isinstance(outcome, RowCapError):
                        if stray := outcome.keys - set(batch):
                            raise SplitError(
                                f"Kaltura ignored the {by} filter: a part for {len(batch)} room(s) came back at the "
                                f"cap with rows of {len(stray)} other room(s); nothing was landed"
                            )
                        if len(batch) == 1:
                            raise SplitError(
                                f"room {batch[0]} alone reaches the cap of {row_cap} {report.name} rows: no safe split"
                            )
                        pending += _halves(batch)
                    elif isinstance(outcome, BaseException):
                        raise outcome
                    elif stray := outcome.keys - set(batch):
                        raise SplitError(
                            f"Kaltura ignored the {by} filter: a part for {len(batch)} room(s) returned rows of "
                            f"{len(stray)} other room(s); nothing was landed"
                        )
    except BaseException:
        result.close()
        raise
    result.parts.sort(key=lambda p: p.batch)
    result.details["parts"] = [{"rooms": len(p.batch), "rows": p.stats.rows} for p in result.parts]
    return result


def _try(
    report: Report, filters: Mapping[str, tuple[str, ...]], batch: tuple[str, ...], fetch: FetchPart
) -> tuple[tuple[str, ...], Part | BaseException]:
    try:
        part = fetch(report, {**filters, "ENTRY_IDS": batch}, report.room_column)
    except (RowCapError, ExportError) as exc:
        return batch, exc
    part.batch = batch
    return batch, part


def _room_ids(report: Report, filters: Mapping[str, tuple[str, ...]], fetch: FetchPart, row_cap: int) -> list[str]:
    """The rooms of the window, from the rooms report fetched with the same room and event filters."""
    room_filters = {k: v for k, v in filters.items() if k in ROOMS.filters}
    try:
        part = fetch(ROOMS, room_filters, None)
    except RowCapError:
        raise SplitError(
            f"the rooms report of the window also reached the cap of {row_cap} rows, so the {report.name} "
            "result cannot be split by room safely"
        ) from None
    try:
        part.body.seek(0)
        reader = csv.DictReader(io.TextIOWrapper(part.body, encoding="utf-8", newline=""))
        ids: set[str] = set()
        for row in reader:
            entry, parent = row.get("entry_id") or "", row.get("parent_entry_id") or ""
            if report is ATTENDEES:
                ids.add(entry)  # breakout rooms are rooms of their own for attendance
            elif parent:
                ids.add(parent)
            else:
                ids.add(entry)
    finally:
        part.close()
    ids.discard("")
    return sorted(ids)


def _halves(batch: tuple[str, ...]) -> list[tuple[str, ...]]:
    if len(batch) <= 1:
        return [batch] if batch else []
    middle = len(batch) // 2
    return [batch[:middle], batch[middle:]]
