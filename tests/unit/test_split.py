"""split() with a fake Kaltura: an in-memory data set behind the FetchPart interface, capped like the server."""

from __future__ import annotations

import io
from collections.abc import Mapping

import pytest

from kaltura_export.catalogue import ATTENDEES, BREAKOUT_ROOMS, ROOMS, Report
from kaltura_export.errors import RowCapError
from kaltura_export.normalise import Normaliser
from kaltura_export.split import Part, SplitError, split

MAIN = ["1_m1", "1_m2", "1_m3", "1_m4"]
BREAKOUTS = {"1_m1": ["1_b11", "1_b12"], "1_m3": ["1_b31"], "1_m4": ["1_b41", "1_b42", "1_b43"]}
SESSIONS = {"1_m1": 3, "1_m3": 3, "1_m4": 5}  # breakout rows: m1 6, m3 3, m4 15 (24 in all); rooms: 10 rows


def rooms_rows() -> list[list[str]]:
    rows = [[m, f"Room {m}", "", f"cp_{m}", "1", "2", "host", "5", "0.5"] for m in MAIN]
    rows += [[b, f"Group {b}", m, f"cp_{b}", "1", "2", "host", "2", "0.5"] for m, bs in BREAKOUTS.items() for b in bs]
    return rows


def breakout_rows() -> list[list[str]]:
    return [
        [m, f"Room {m}", b, f"Group {b}", f"cp_{b}", "host", "1", "2", "1", str(i), "0.5"]
        for m, bs in BREAKOUTS.items()
        for i, b in enumerate(bs)
        for _ in range(SESSIONS[m])
    ]


class FakeKaltura:
    """Serves the data set through Normaliser like the real path, with a row cap and an optional deaf filter."""

    def __init__(self, cap: int, *, ignore_filter: bool = False) -> None:
        self.cap = cap
        self.ignore_filter = ignore_filter
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def __call__(self, report: Report, filters: Mapping[str, tuple[str, ...]], key: str | None) -> Part:
        batch = tuple(filters.get("ENTRY_IDS", ()))
        self.calls.append((report.name, batch))
        rows = {ROOMS.name: rooms_rows(), BREAKOUT_ROOMS.name: breakout_rows()}[report.name]
        column = report.columns.index(report.room_column)
        if batch and not self.ignore_filter:
            rows = [r for r in rows if r[column] in batch]
        body = ",".join(report.columns) + "\n" + "".join(",".join(r) + "\n" for r in rows[: self.cap])
        normaliser = Normaliser(report.columns, row_cap=self.cap, key_column=key)
        out = io.BytesIO(b"".join(normaliser.feed([body.encode()])))
        return Part(out, normaliser.stats, normaliser.keys)


def landed(result_parts: list[Part]) -> list[str]:
    return sorted(line.decode() for p in result_parts for line in b"".join(p.rows()).splitlines())


def test_breakout_rooms_split_by_parent_room_with_every_row_once() -> None:
    fake = FakeKaltura(cap=16)
    result = split(BREAKOUT_ROOMS, {}, {"1_m1", "1_m4"}, 16, fake, concurrency=2)
    assert landed(result.parts) == sorted(",".join(r) for r in breakout_rows())
    batches = [b for name, b in fake.calls if name == "breakout_rooms"]
    # main rooms only (breakout entries are never parents); [m1 m2] fits, [m3 m4] is capped and halved
    assert batches[:2] == [("1_m1", "1_m2"), ("1_m3", "1_m4")] and sorted(batches[2:]) == [("1_m3",), ("1_m4",)]
    assert result.details["by"] == "parentEntryIds" and result.details["rooms"] == 4
    assert [p["rows"] for p in result.details["parts"]] == [6, 3, 15]


def test_a_room_missing_from_the_rooms_report_fails_before_fetching_parts() -> None:
    fake = FakeKaltura(cap=11)
    with pytest.raises(
        SplitError, match=r"1 room\(s\) in the capped breakout_rooms result are not in the rooms report"
    ):
        split(BREAKOUT_ROOMS, {}, {"1_m9"}, 11, fake, concurrency=1)
    assert [name for name, _ in fake.calls] == ["rooms"]


def test_an_ignored_filter_fails() -> None:
    with pytest.raises(SplitError, match="Kaltura ignored the parentEntryIds filter"):
        split(BREAKOUT_ROOMS, {}, set(), 16, FakeKaltura(cap=16, ignore_filter=True), concurrency=2)  # parts capped
    with pytest.raises(SplitError, match="Kaltura ignored the parentEntryIds filter"):
        split(BREAKOUT_ROOMS, {}, set(), 100, FakeKaltura(cap=100, ignore_filter=True), concurrency=2)  # under it


def test_one_room_alone_at_the_cap_has_no_safe_split() -> None:
    with pytest.raises(SplitError, match="room 1_m4 alone reaches the cap of 11 breakout_rooms rows"):
        split(BREAKOUT_ROOMS, {}, set(), 11, FakeKaltura(cap=11), concurrency=1)


def test_rooms_at_the_cap_and_rooms_itself_cannot_split() -> None:
    with pytest.raises(SplitError, match="the rooms report of the window also reached the cap"):
        split(ATTENDEES, {}, set(), 5, FakeKaltura(cap=5), concurrency=1)
    with pytest.raises(SplitError, match="cannot be split safely"):
        split(ROOMS, {}, set(), 5, FakeKaltura(cap=5), concurrency=1)


def test_the_capped_error_carries_the_rooms_it_saw() -> None:
    with pytest.raises(RowCapError) as info:
        FakeKaltura(cap=8)(BREAKOUT_ROOMS, {}, "parent_entry_id")
    assert info.value.keys == {"1_m1", "1_m3"}
