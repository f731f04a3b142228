"""Reports 6000/6001/6002: parameter parsing as ReportService does it, rows, and the CSV body."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .data import Attendance, Person, Session, University

BOM = b"\xef\xbb\xbf"

COLUMNS: dict[int, tuple[str, ...]] = {
    6000: (
        "entry_id", "entry_name", "parent_entry_id", "cue_point_id", "session_start_time", "session_end_time",
        "session_host_user_id", "meeting_view_period_unique_users", "meeting_engaged_play_time_ratio",
    ),
    6001: (
        "entry_id", "cue_point_id", "user_id", "user_name", "user_email", "user_type", "meeting_view_time",
        "meeting_engaged_play_time_ratio",
    ),
    6002: (
        "parent_entry_id", "parent_entry_name", "breakout_entry_id", "breakout_entry_name", "cue_point_id",
        "session_initiator", "session_start_time", "session_end_time", "duration", "participant_count",
        "engagement_rate",
    ),
}  # fmt: skip

# the date keys each report definition substitutes (6002 spells them as the seed document does)
DATE_KEYS: dict[int, tuple[str, str]] = {
    6000: ("from_date", "to_date"),
    6001: ("from_date", "to_date"),
    6002: ("fromDate", "toDate"),
}
FILTER_KEYS: dict[int, tuple[str, ...]] = {
    6000: ("entry_ids", "virtual_event_ids"),
    6001: ("entry_ids", "virtual_event_ids", "user_ids", "cue_point_ids"),
    6002: ("parentEntryIds", "virtual_event_ids"),
}
ENTRY_FILTER: dict[int, str] = {6000: "entry_ids", 6001: "entry_ids", 6002: "parentEntryIds"}

ParamPairs = list[tuple[str, str | None]]


class MissingParameter(Exception):
    """A date the report definition needs is absent (a plain Exception on the server: INTERNAL_SERVERL_ERROR)."""


def parse_params_str(params: str | None) -> ParamPairs:
    """ReportService::parseParamsStr: split on ``;``, trim each pair, split on the first ``=``."""
    pairs: ParamPairs = []
    for item in (params or "").split(";"):
        key, sep, value = item.strip(" \t\n\r\0\x0b").partition("=")
        pairs.append((key, value if sep else None))
    return pairs


def params_dict(pairs: ParamPairs) -> dict[str, str | None]:
    """KalturaKeyValueArray::toObjectsArray: the last pair of a key wins; empty keys mean nothing."""
    return {key: value for key, value in pairs if key}


_INTVAL = re.compile(r"\s*([+-]?\d+)")
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$")


def php_intval(text: str | None) -> int:
    """PHP's (int) cast of a string: leading digits, else 0."""
    match = _INTVAL.match(text or "")
    return int(match.group(1)) if match else 0


def date_range(report_id: int, params: dict[str, str | None]) -> tuple[int, int]:
    """The report's [from, to) in Unix seconds; MissingParameter when a date is absent or not a number."""
    bounds = []
    for key in DATE_KEYS[report_id]:
        value = params.get(key)
        # isset() is false for a key without "="; gmdate() rejects a non-numeric string
        if value is None or not _NUMBER.match(value):
            raise MissingParameter(f"missing parameter {key}")
        bounds.append(int(float(value)))
    return bounds[0], bounds[1]


def report_filters(report_id: int, params: dict[str, str | None]) -> dict[str, list[str]]:
    """The filters a report takes, comma-split without trimming; empty values and other keys are ignored."""
    return {key: value.split(",") for key in FILTER_KEYS[report_id] if (value := params.get(key))}


def php_float(value: float) -> str:
    """A float as PHP prints it (precision=14): ``0.83333333333333``, ``120``, ``1.0E-5``."""
    text = format(value, ".14G")
    if "E" not in text:
        return text
    mantissa, exponent = text.split("E")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}E{int(exponent):+d}"


def quoted(name: str) -> str:
    """How enrichment pre-quotes entry names (getQuotedEntriesNames): RFC-4180, ``""`` for a quote."""
    return '"' + name.replace('"', '""') + '"'


def _initiator(person: Person) -> str:
    return person.name or person.user_id


def _attendance_row(entry_id: str, cue_point_id: str, att: Attendance) -> list[str]:
    return [
        entry_id,
        cue_point_id,
        att.person.user_id,
        att.person.name,
        att.person.email,
        att.user_type,
        php_float(att.view_periods * 10 / 60),
        php_float(att.engaged_periods / att.view_periods),
    ]


@dataclass(frozen=True)
class Query:
    """One report query: window, filters, scale."""

    report_id: int
    from_s: int
    to_s: int
    filters: dict[str, list[str]]
    scale: int = 1

    def allows(self, key: str, value: str) -> bool:
        """Whether a row with ``value`` passes the filter ``key`` (absent filter: everything passes)."""
        wanted = self.filters.get(key)
        return wanted is None or value in wanted

    def in_window(self, start: int) -> bool:
        """Half-open [from, to) on the session's start."""
        return self.from_s <= start < self.to_s


def _rows_6000(q: Query, sessions: Iterable[Session], _u: University) -> Iterator[tuple[tuple[int, str], list[str]]]:
    for s in sessions:
        room = s.room
        if not q.allows("virtual_event_ids", room.virtual_event_id):
            continue
        if q.in_window(s.start) and q.allows("entry_ids", room.entry_id):
            yield (s.start, room.entry_id), [
                room.entry_id, quoted(room.name), "", s.cue_point_id, str(s.start), str(s.end), s.host.user_id,
                str(s.unique_users), php_float(s.engagement),
            ]  # fmt: skip
        for b in s.breakouts:
            if q.in_window(b.start) and q.allows("entry_ids", b.entry_id):
                yield (b.start, b.entry_id), [
                    b.entry_id, quoted(room.breakout_name(b.group)), room.entry_id, b.cue_point_id, str(b.start),
                    str(b.end), s.host.user_id, str(b.participants), php_float(b.engagement),
                ]  # fmt: skip


def _rows_6001(
    q: Query, sessions: Iterable[Session], university: University
) -> Iterator[tuple[tuple[int, str, str, str], list[str]]]:
    for s in sessions:
        room = s.room
        if not q.allows("virtual_event_ids", room.virtual_event_id):
            continue
        want_main = q.in_window(s.start) and q.allows("entry_ids", room.entry_id)
        want_main = want_main and q.allows("cue_point_ids", s.cue_point_id)
        wanted = [
            q.in_window(b.start) and q.allows("entry_ids", b.entry_id) and q.allows("cue_point_ids", b.cue_point_id)
            for b in s.breakouts
        ]
        if not want_main and not any(wanted):
            continue  # spare generating the attendees
        main, groups = university.attendance(s, q.scale)
        if want_main:
            for att in main:
                if q.allows("user_ids", att.person.user_id):
                    row = _attendance_row(room.entry_id, s.cue_point_id, att)
                    yield (s.start, room.entry_id, s.cue_point_id, att.person.user_id), row
        for b, want, group in zip(s.breakouts, wanted, groups, strict=True):
            if want:
                for att in group:
                    if q.allows("user_ids", att.person.user_id):
                        row = _attendance_row(b.entry_id, b.cue_point_id, att)
                        yield (b.start, b.entry_id, b.cue_point_id, att.person.user_id), row


def _rows_6002(
    q: Query, sessions: Iterable[Session], _u: University
) -> Iterator[tuple[tuple[int, str, str], list[str]]]:
    for s in sessions:
        room = s.room
        if not q.allows("virtual_event_ids", room.virtual_event_id):
            continue
        if not q.allows("parentEntryIds", room.entry_id):
            continue
        for b in s.breakouts:
            if q.in_window(b.start):
                yield (b.start, room.entry_id, b.entry_id), [
                    room.entry_id, quoted(room.name), b.entry_id, quoted(room.breakout_name(b.group)), b.cue_point_id,
                    _initiator(s.host), str(b.start), str(b.end), str(b.end - b.start), str(b.participants),
                    php_float(b.engagement),
                ]  # fmt: skip


_ROWS: dict[int, Callable[[Query, Iterable[Session], University], Iterator[tuple[tuple[object, ...], list[str]]]]] = {
    6000: _rows_6000,
    6001: _rows_6001,
    6002: _rows_6002,
}


def iter_rows(university: University, query: Query) -> Iterator[list[str]]:
    """The report's rows in a stable order (by session start, then ids), day by day so memory stays flat.

    Cells are as the report engine hands them to getCsvAction: names already pre-quoted, commas not yet replaced.
    """
    make = _ROWS[query.report_id]
    for day in university.local_days(query.from_s, query.to_s):
        # sessions of a local day start and end within it, so sorting each day sorts the whole result
        day_rows = make(query, university.sessions_on(day, query.scale), university)
        for _, row in sorted(day_rows, key=lambda kr: kr[0]):
            yield row


def server_cells(row: list[str]) -> list[str]:
    """getCsvAction's ``str_replace(',', ' ', $row)``: every comma inside a value becomes a space."""
    return [cell.replace(",", " ") if "," in cell else cell for cell in row]


@dataclass(frozen=True)
class ColumnPlan:
    """Output columns: each pick is a source column index, or a constant for an injected column."""

    header: tuple[str, ...]
    picks: tuple[int | str, ...]

    def apply(self, row: list[str]) -> list[str]:
        """Project one source row onto the output columns."""
        return [row[p] if isinstance(p, int) else p for p in self.picks]


def plan_columns(
    columns: Iterable[str],
    *,
    add: Iterable[tuple[str, str, int | None]] = (),
    drop: Iterable[str] = (),
    excluded: Iterable[str] = (),
) -> ColumnPlan:
    """Apply injected schema drift (``add``/``drop``), then KCsvWrapper::hideCsvColumns (``excluded``)."""
    cols: list[tuple[str, int | str]] = [(name, i) for i, name in enumerate(columns)]
    dropped = set(drop)
    cols = [c for c in cols if c[0] not in dropped]
    for name, value, position in add:
        cols.insert(len(cols) if position is None else position, (name, value))
    for name in excluded:
        for i, (col, _) in enumerate(cols):
            if col == name:  # the first match only, like array_search
                del cols[i]
                break
    return ColumnPlan(tuple(c[0] for c in cols), tuple(c[1] for c in cols))


class RowCounter:
    """Counts the rows a CSV generator emitted (read after the generator is exhausted)."""

    def __init__(self) -> None:
        self.rows = 0


def csv_chunks(
    plan: ColumnPlan, rows: Iterator[list[str]], counter: RowCounter | None = None, chunk_size: int = 64 * 1024
) -> Iterator[bytes]:
    """The body of getCsvAction, in pieces: BOM, header, rows; just BOM and a newline when there are no rows."""
    first = next(rows, None)
    if first is None:
        yield BOM + b"\n"
        return
    parts = [",".join(plan.header), "\n"]
    size = count = 0
    prefix = BOM
    for row in itertools.chain((first,), rows):
        line = ",".join(server_cells(plan.apply(row)))
        parts.append(line)
        parts.append("\n")
        size += len(line) + 1
        count += 1
        if size >= chunk_size:
            yield prefix + "".join(parts).encode()
            prefix, parts, size = b"", [], 0
    if counter is not None:
        counter.rows = count
    yield prefix + "".join(parts).encode()
