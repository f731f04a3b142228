"""Properties of the normaliser beyond tests/unit/test_normalise.py's: column drift (added, dropped, reordered and
excluded columns, pre-quoted names) under any chunking, the row cap under any chunking, and the room keys a
split relies on.

Inputs are what Kaltura can produce: values without raw line breaks, commas already turned into spaces, each value
either raw or pre-quoted RFC 4180 style (a raw value starting with a quote is left out: it cannot be told from a
quoted one, the documented ambiguity). The oracle is always "the values, commas turned into spaces".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaltura_export.errors import RowCapError
from kaltura_export.normalise import BOM, Normaliser

# the cells Kaltura can produce, and how it writes them, are the ones the main normaliser tests use
from tests.unit.test_normalise import CELLS, canonical, kaltura_encode, read_back

CATALOGUE = [f"c{i}" for i in range(5)]


def body_of(lines: list[str], bom: bool) -> bytes:
    return (BOM if bom else b"") + "".join(line + "\n" for line in lines).encode("utf-8")


def cut(body: bytes, sizes: list[int]) -> list[bytes]:
    """The body in chunks of the given sizes (the last one takes the rest)."""
    chunks, at = [], 0
    for size in sizes:
        chunks.append(body[at : at + size])
        at += size
    chunks.append(body[at:])
    return chunks


CHUNKS = st.lists(st.integers(1, 48), min_size=1, max_size=40)


@st.composite
def drifting(draw: st.DrawFn) -> tuple[list[str], list[str], list[str], list[dict[str, str]], bytes]:
    """A catalogue, what Kaltura sends for it today (some columns dropped, some added, in any order, names pre-quoted
    or not), the excluded columns, and the rows as the values that must land."""
    width = draw(st.integers(1, len(CATALOGUE)))
    columns = CATALOGUE[:width]
    excluded = draw(st.lists(st.sampled_from(columns), unique=True, max_size=width - 1))
    landed = [c for c in columns if c not in excluded]
    # at least one landed column is still sent, or the header shares nothing with the catalogue
    kept = draw(st.lists(st.sampled_from(columns), unique=True, min_size=1).filter(lambda k: set(k) & set(landed)))
    added = [f"new_{i}" for i in range(draw(st.integers(0, 3)))]
    source = draw(st.permutations(kept + added))
    rows = draw(st.lists(st.lists(CELLS, min_size=len(source), max_size=len(source)), max_size=10))
    lines = [",".join(kaltura_encode(name, draw(st.booleans())) for name in source)]
    lines += [",".join(kaltura_encode(*cell) for cell in row) for row in rows]
    values = [dict(zip(source, (v.replace(",", " ") for v, _ in row), strict=True)) for row in rows]
    return columns, list(source), excluded, values, body_of(lines, draw(st.booleans()))


@settings(max_examples=200, deadline=None)
@given(drifting(), CHUNKS)
def test_drift_lands_the_catalogue_columns_whatever_kaltura_sends(
    report: tuple[list[str], list[str], list[str], list[dict[str, str]], bytes], sizes: list[int]
) -> None:
    columns, source, excluded, values, body = report
    normaliser = Normaliser(columns, excluded=excluded)
    out = b"".join(normaliser.feed(cut(body, sizes)))

    expected = [columns] + [["" if c in excluded else row.get(c, "") for c in columns] for row in values]
    assert read_back(out) == expected
    assert out == canonical(expected)
    stats = normaliser.stats
    assert stats.rows == len(values) and stats.header_only is (not values)
    assert stats.source_columns == source
    assert stats.added == [n for n in source if n not in columns]
    assert stats.dropped == [c for c in columns if c not in excluded and c not in source]
    assert stats.excluded == [c for c in columns if c in excluded]
    assert stats.bytes_in == len(body) and stats.bytes_out == len(out)
    # the same body in one piece lands the same bytes
    assert b"".join(Normaliser(columns, excluded=excluded).feed([body])) == out


@st.composite
def capped(draw: st.DrawFn) -> tuple[list[str], list[list[str]], bytes, int]:
    width = draw(st.integers(1, 4))
    columns = CATALOGUE[:width]
    source = draw(st.permutations(columns))
    rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width), min_size=1, max_size=12))
    lines = [",".join(source)] + [",".join(kaltura_encode(*cell) for cell in row) for row in rows]
    values = [dict(zip(source, (v.replace(",", " ") for v, _ in row), strict=True)) for row in rows]
    landed = [[row[c] for c in columns] for row in values]
    cap = draw(st.integers(1, len(rows) + 2))
    return columns, landed, body_of(lines, bom=True), cap


def consume(chunks: Iterator[bytes]) -> tuple[list[bytes], BaseException | None]:
    """What a consumer saw before the normaliser stopped, and why it stopped."""
    seen: list[bytes] = []
    try:
        for chunk in chunks:
            seen.append(chunk)
    except RowCapError as exc:
        return seen, exc
    return seen, None


@settings(max_examples=200, deadline=None)
@given(capped(), CHUNKS, st.data())
def test_a_result_at_the_cap_never_reaches_a_consumer_whole_and_its_rooms_are_known(
    report: tuple[list[str], list[list[str]], bytes, int], sizes: list[int], data: st.DataObject
) -> None:
    columns, landed, body, cap = report
    key = data.draw(st.sampled_from(columns))
    whole = canonical([columns, *landed])
    normaliser = Normaliser(columns, row_cap=cap, key_column=key)
    seen, error = consume(normaliser.feed(cut(body, sizes)))
    out = b"".join(seen)

    # the rooms (values of the key column) of every row read, capped or not: what a split needs
    assert normaliser.keys == {row[columns.index(key)] for row in landed}
    if len(landed) >= cap:
        assert isinstance(error, RowCapError) and f"cap of {cap} rows" in str(error)
        assert error.keys == normaliser.keys
        # a consumer that completes only once the chunks are exhausted has nothing complete to land
        assert whole.startswith(out) and len(out) < len(whole)
    else:
        assert error is None and out == whole
        assert normaliser.stats.rows == len(landed)


@pytest.mark.parametrize("key", ["c0", "c2"])
def test_the_keys_of_an_empty_result_are_empty(key: str) -> None:
    for body in (BOM + b"\n", BOM + b"c0,c1,c2\n", b""):
        normaliser = Normaliser(["c0", "c1", "c2"], key_column=key, row_cap=1)
        assert b"".join(normaliser.feed([body])) == b"c0,c1,c2\n"
        assert normaliser.keys == set()
