"""The streaming normaliser: Kaltura's report body in, the landed CSV out."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaltura_export.errors import RowCapError, SchemaError, TransientKalturaError
from kaltura_export.normalise import BOM, Normaliser, NormaliseStats

SAMPLES = Path(__file__).parents[2].parent / "shared/reference/samples"

# the headers of the samples, spelled out so that these tests do not move with the catalogue
ROOMS = [
    "entry_id",
    "entry_name",
    "parent_entry_id",
    "cue_point_id",
    "session_start_time",
    "session_end_time",
    "session_host_user_id",
    "meeting_view_period_unique_users",
    "meeting_engaged_play_time_ratio",
]
ATTENDEES = [
    "entry_id",
    "cue_point_id",
    "user_id",
    "user_name",
    "user_email",
    "user_type",
    "meeting_view_time",
    "meeting_engaged_play_time_ratio",
]

ROOMS_ROWS = [
    [
        "1_abcd1234",
        "Intro to Statistics  Week 3",
        "",
        "1_cp000001",
        "1764669600",
        "1764676800",
        "prof.lee@example.edu",
        "27",
        "0.8125",
    ],
    [
        "1_abcd5678",
        'Office Hours with "Dr. Ray"',
        "",
        "1_cp000002",
        "1764680400",
        "1764684000",
        "ray@example.edu",
        "4",
        "0.5",
    ],
    [
        "1_brk00001",
        "Intro to Statistics  Week 3 / Group A",
        "1_abcd1234",
        "1_cp000003",
        "1764671400",
        "1764672300",
        "prof.lee@example.edu",
        "6",
        "0.9",
    ],
]
ATTENDEES_ROWS = [
    ["1_abcd1234", "1_cp000001", "s1001", "Garcia  Maria", "m.garcia@example.edu", "Attendee", "58.5", "0.91"],
    ["1_abcd1234", "1_cp000001", "s1002", "Björn Ångström", "bjorn@example.edu", "Attendee", "12.25", "0.4"],
    [
        "1_abcd1234",
        "1_cp000001",
        "prof.lee@example.edu",
        "Lee  Prof. Ann",
        "prof.lee@example.edu",
        "Host",
        "120",
        "1",
    ],
]

CHUNK_SIZES = [1, 2, 3, 7, 64, None]


def chunked(body: bytes, size: int | None) -> list[bytes]:
    if size is None:
        return [body]
    return [body[i : i + size] for i in range(0, len(body), size)]


def run(
    body: bytes,
    columns: Sequence[str],
    size: int | None = None,
    *,
    excluded: Collection[str] = (),
    row_cap: int | None = None,
) -> tuple[bytes, NormaliseStats]:
    normaliser = Normaliser(columns, excluded=excluded, row_cap=row_cap)
    out = b"".join(normaliser.feed(chunked(body, size)))
    return out, normaliser.stats


def read_back(out: bytes) -> list[list[str]]:
    # newline="" so that only CR and LF end a line, as Athena's reader does; str.splitlines would also split on U+2028
    return list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))


def canonical(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerows(rows)
    return text.getvalue().encode("utf-8")


def body_of(*lines: str, bom: bool = True) -> bytes:
    return (BOM if bom else b"") + "".join(line + "\n" for line in lines).encode("utf-8")


# --- the reference samples -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "columns", "rows"),
    [
        ("report-6000-success.csv", ROOMS, ROOMS_ROWS),
        ("report-6001-success.csv", ATTENDEES, ATTENDEES_ROWS),
        ("report-empty.csv", ROOMS, []),
    ],
)
def test_samples_land_the_same_whatever_the_chunking(name: str, columns: list[str], rows: list[list[str]]) -> None:
    body = (SAMPLES / name).read_bytes()
    outputs = {size: run(body, columns, size) for size in CHUNK_SIZES}
    landed = {out for out, _ in outputs.values()}
    assert len(landed) == 1, "the output depends on how the body was chunked"
    out, stats = outputs[None]
    assert not out.startswith(BOM)
    assert read_back(out) == [columns, *rows]
    assert out == canonical([columns, *rows])
    assert stats.rows == len(rows)
    assert stats.header_only is (not rows)
    assert stats.bytes_in == len(body)
    assert stats.bytes_out == len(out)
    assert stats.added == stats.dropped == stats.excluded == []
    assert stats.newlines_replaced == 0
    assert stats.source_columns == (columns if rows else [])


def test_empty_sample_is_header_only() -> None:
    out, stats = run((SAMPLES / "report-empty.csv").read_bytes(), ROOMS)
    assert out == (",".join(ROOMS) + "\n").encode()
    assert stats.header_only
    assert stats.source_columns == []


@pytest.mark.parametrize("body", [b"", BOM, BOM + b"\n", b"\n", body_of("a,b"), body_of("a,b", bom=False)])
def test_every_empty_result_lands_as_the_header_alone(body: bytes) -> None:
    out, stats = run(body, ["a", "b"])
    assert out == b"a,b\n"
    assert stats.header_only
    assert stats.rows == 0


# --- mapping by name --------------------------------------------------------------------------------------------


def test_added_column_is_not_landed_and_is_recorded() -> None:
    out, stats = run(body_of("a,new,b", "1,x,2", "3,y,4"), ["a", "b"])
    assert read_back(out) == [["a", "b"], ["1", "2"], ["3", "4"]]
    assert stats.added == ["new"]
    assert stats.dropped == []
    assert stats.source_columns == ["a", "new", "b"]


def test_dropped_column_lands_empty_and_is_recorded() -> None:
    out, stats = run(body_of("a,c", "1,3", '"q""1",3'), ["a", "b", "c"])
    assert read_back(out) == [["a", "b", "c"], ["1", "", "3"], ['q"1', "", "3"]]
    assert stats.dropped == ["b"]
    assert stats.added == []


def test_excluded_column_lands_empty_and_is_not_a_drop() -> None:
    out, stats = run(body_of("a,c", "1,3"), ["a", "b", "c"], excluded={"b"})
    assert read_back(out) == [["a", "b", "c"], ["1", "", "3"]]
    assert stats.excluded == ["b"]
    assert stats.dropped == []


def test_excluded_column_lands_empty_even_when_kaltura_sends_it() -> None:
    out, stats = run(body_of("a,b,c", "1,secret@example.edu,3", '1,"secret",3'), ["a", "b", "c"], excluded=["b"])
    assert read_back(out) == [["a", "b", "c"], ["1", "", "3"], ["1", "", "3"]]
    assert b"secret" not in out
    assert stats.excluded == ["b"]
    assert stats.dropped == stats.added == []


def test_reordered_source_columns_are_mapped_by_name() -> None:
    out, stats = run(body_of("c,a,b", "3,1,2", '"c ""3""",1,2'), ["a", "b", "c"])
    assert read_back(out) == [["a", "b", "c"], ["1", "2", "3"], ["1", "2", 'c "3"']]
    assert stats.added == stats.dropped == []


@pytest.mark.parametrize("size", CHUNK_SIZES)
def test_reordered_plain_rows_are_mapped_by_name(size: int | None) -> None:
    out, _ = run(body_of("c,a,b", "3,1,2", "6,4,5"), ["a", "b", "c"], size)
    assert out == b"a,b,c\n1,2,3\n4,5,6\n"


def test_pre_quoted_header_names_are_unquoted() -> None:
    body = body_of('"a","b"', "1,2")
    out, stats = run(body, ["a", "b"])
    assert out == b"a,b\n1,2\n"
    assert stats.source_columns == ["a", "b"]


def test_header_sharing_no_column_is_a_schema_error() -> None:
    with pytest.raises(SchemaError) as caught:
        run(body_of("x,y", "1,2"), ["a", "b"])
    assert "x" in str(caught.value) and "y" in str(caught.value)
    assert "'a', 'b'" in str(caught.value)


def test_header_sharing_only_excluded_columns_is_a_schema_error() -> None:
    with pytest.raises(SchemaError):
        run(body_of("b,y", "1,2"), ["a", "b"], excluded=["b"])


def test_rows_after_an_empty_header_line_are_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="empty header"):
        run(BOM + b"\n1,2\n", ["a", "b"])


@pytest.mark.parametrize("size", CHUNK_SIZES)
@pytest.mark.parametrize(
    ("header", "bad"),
    [
        ("a,b,c", "4,private@example.edu"),  # the header is the catalogue's: the pass-through checks widths
        ("c,b,a", "4,private@example.edu"),  # reordered: every line is split
        ("a,b,c", '4,"private@example.edu"'),  # quoted: the csv module reads it
        ("a,b,c", "4,private@example.edu,6,7"),
    ],
)
def test_wrong_field_count_names_the_row_and_counts_only(header: str, bad: str, size: int | None) -> None:
    body = body_of(header, "1,2,3", bad, "7,8,9")
    with pytest.raises(SchemaError) as caught:
        run(body, ["a", "b", "c"], size)
    message = str(caught.value)
    assert "row 2 " in message
    assert f"has {bad.count(',') + 1} values" in message
    assert "header has 3" in message
    assert "private" not in message


def test_wrong_field_count_deep_in_a_clean_region_is_found() -> None:
    rows = ["1,2,3"] * 30_000
    rows[22_221] = "1,2"
    rows[22_222] = "1,2,3,4"  # compensates the comma count of the region: the line before is still caught
    with pytest.raises(SchemaError, match="row 22222 has 2 values"):
        run(body_of("a,b,c", *rows[:22_221], "1,2", *rows[22_222:]), ["a", "b", "c"], 64 * 1024)


# --- values -----------------------------------------------------------------------------------------------------


def test_quote_inside_an_unquoted_value_is_literal() -> None:
    out, _ = run(body_of("a,b", 'say "hi" now,2'), ["a", "b"])
    assert out == b'a,b\n"say ""hi"" now",2\n'


def test_value_starting_with_a_quote_is_read_as_quoted() -> None:
    out, _ = run(body_of("a,b", '"plain",2'), ["a", "b"])
    assert read_back(out) == [["a", "b"], ["plain", "2"]]
    assert out == b"a,b\nplain,2\n"


@pytest.mark.parametrize("size", CHUNK_SIZES)
def test_newline_inside_a_quoted_value_joins_the_row(size: int | None) -> None:
    body = BOM + b'a,b\n1,"two\nlines"\n3,"crlf\r\nhere"\n5,6\n'
    out, stats = run(body, ["a", "b"], size)
    assert read_back(out) == [["a", "b"], ["1", "two lines"], ["3", "crlf  here"], ["5", "6"]]
    assert out.count(b"\n") == 4
    assert stats.rows == 3
    assert stats.newlines_replaced == 3


@pytest.mark.parametrize("size", CHUNK_SIZES)
def test_lone_carriage_return_becomes_a_space(size: int | None) -> None:
    body = BOM + b'a,b\n1,x\ry\n"q\r",z\r\n'
    out, stats = run(body, ["a", "b"], size)
    assert out == b"a,b\n1,x y\nq ,z \n"
    assert stats.newlines_replaced == 3


def test_one_column_empty_value_is_written_as_csv_does() -> None:
    out, stats = run(body_of("a", "", "x", '""'), ["a"])
    assert out == b'a\n""\nx\n""\n'
    assert read_back(out) == [["a"], [""], ["x"], [""]]
    assert stats.rows == 3


def test_invalid_utf8_in_a_quoted_line_is_replaced() -> None:
    out, _ = run(BOM + b'a,b\n"x\xff",2\n', ["a", "b"])
    assert read_back(out) == [["a", "b"], ["x\ufffd", "2"]]


# --- bodies cut short -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", CHUNK_SIZES)
@pytest.mark.parametrize(
    "body",
    [
        BOM + b"a,b\n1,2\n3,",  # the last row is cut
        BOM + b"a,b\n1,2\n3,4",  # even when it happens to hold every value
        BOM + b"a,b",  # the header itself is cut
        BOM + b'a,b\n1,"open\n',  # inside a quoted value, after a newline
        BOM + b'a,b\n1,"open',  # inside a quoted value, mid-line
        b"\xef\xbb",  # the BOM itself is cut
    ],
)
def test_truncated_body_is_transient(body: bytes, size: int | None) -> None:
    with pytest.raises(TransientKalturaError) as caught:
        run(body, ["a", "b"], size)
    assert caught.value.code == "TRUNCATED_BODY"
    assert caught.value.retryable


def test_bom_split_across_chunks_is_stripped() -> None:
    normaliser = Normaliser(["a", "b"])
    out = b"".join(normaliser.feed([b"\xef", b"", b"\xbb", b"\xbfa,b\n1", b",2\n"]))
    assert out == b"a,b\n1,2\n"
    assert normaliser.stats.bytes_in == len(BOM) + len(b"a,b\n1,2\n")


# --- row cap ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [7, None])
def test_reaching_the_row_cap_fails_before_the_last_chunk(size: int | None) -> None:
    body = body_of("a,b", "1,2", "3,4", "5,last")
    normaliser = Normaliser(["a", "b"], row_cap=3)
    yielded: list[bytes] = []
    with pytest.raises(RowCapError) as caught:
        for chunk in normaliser.feed(chunked(body, size)):
            yielded.append(chunk)
    assert "cap of 3 rows" in str(caught.value)
    assert "incomplete" in str(caught.value)
    assert b"last" not in b"".join(yielded)
    assert normaliser.stats.bytes_in == len(body), "the body is read to its end before the cap is judged"


def test_one_row_under_the_cap_is_fine() -> None:
    out, stats = run(body_of("a,b", "1,2", "3,4"), ["a", "b"], 1, row_cap=3)
    assert out == b"a,b\n1,2\n3,4\n"
    assert stats.rows == 2


# --- streaming --------------------------------------------------------------------------------------------------


def test_feed_is_lazy_and_streams() -> None:
    pulled: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield BOM + b"a,b\n"
        for i in range(1000):
            pulled.append(i)
            yield b"1,2\n" * 100

    normaliser = Normaliser(["a", "b"])
    stream = normaliser.feed(chunks())
    assert pulled == []
    first = next(stream)
    assert first.startswith(b"a,b\n")
    assert len(pulled) < 10, "output must flow before the body ends"
    rest = list(stream)
    assert normaliser.stats.rows == 100_000
    assert len(rest) >= 900, "output comes in chunks about the size of the input's, not all at once"


def test_a_normaliser_takes_one_body() -> None:
    normaliser = Normaliser(["a"])
    list(normaliser.feed([b"a\n"]))
    with pytest.raises(RuntimeError):
        list(normaliser.feed([b"a\n"]))


@pytest.mark.parametrize(
    "make",
    [lambda: Normaliser(["a"], row_cap=0), lambda: Normaliser(["a", "a"]), lambda: Normaliser([])],
)
def test_nonsense_options_are_refused(make: Callable[[], Normaliser]) -> None:
    with pytest.raises(ValueError):
        make()


def test_plain_rows_pass_through_byte_identical() -> None:
    header = ",".join(ATTENDEES)
    lines = [
        f"1_e{i:07d},1_cp{i % 97:06d},user{i},Name {i}  Surname,u{i}@example.edu,Attendee,{i % 300}.5,0.{i % 10}"
        for i in range(50_000)
    ]
    body = body_of(header, *lines)
    normaliser = Normaliser(ATTENDEES)
    output = list(normaliser.feed(chunked(body, 64 * 1024)))
    assert b"".join(output) == body[len(BOM) :]
    assert normaliser.stats.rows == 50_000
    assert normaliser.stats.bytes_out == len(body) - len(BOM)
    assert len(output) <= len(body) // (64 * 1024) + 2


# --- property: whatever Kaltura can send lands as the canonical CSV of its values ---------------------------------

# what a value can hold: anything but raw line breaks (Kaltura's own enrichment maps those to spaces)
VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
# a raw value starting with a quote cannot be told from a quoted one: Kaltura's documented ambiguity
CELLS = st.tuples(VALUES, st.booleans()).filter(lambda cell: cell[1] or not cell[0].replace(",", " ").startswith('"'))


def kaltura_encode(value: str, quoted: bool) -> str:
    value = value.replace(",", " ")
    return '"' + value.replace('"', '""') + '"' if quoted else value


@st.composite
def reports(draw: st.DrawFn) -> tuple[list[str], list[str], list[list[tuple[str, bool]]], bytes]:
    width = draw(st.integers(1, 5))
    columns = [f"c{i}" for i in range(width)]
    source = draw(st.permutations(columns))
    rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=12))
    lines = [",".join(kaltura_encode(name, draw(st.booleans())) for name in source)]
    lines += [",".join(kaltura_encode(*cell) for cell in row) for row in rows]
    body = body_of(*lines, bom=draw(st.booleans()))
    return columns, source, rows, body


@settings(max_examples=300, deadline=None)
@given(reports(), st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_any_kaltura_body_lands_as_canonical_csv(
    report: tuple[list[str], list[str], list[list[tuple[str, bool]]], bytes], cuts: list[int]
) -> None:
    columns, source, rows, body = report
    whole, stats = run(body, columns)

    by_name = [dict(zip(source, (value.replace(",", " ") for value, _ in row), strict=True)) for row in rows]
    expected = [columns, *([values[name] for name in columns] for values in by_name)]
    assert read_back(whole) == expected
    assert whole == canonical(read_back(whole))
    assert stats.rows == len(rows)
    assert stats.header_only is (not rows)

    chunks, at = [], 0
    for size in cuts:
        chunks.append(body[at : at + size])
        at += size
    chunks.append(body[at:])
    normaliser = Normaliser(columns)
    assert b"".join(normaliser.feed(chunks)) == whole


def test_the_key_column_values_of_the_landed_rows_are_collected_even_when_capped() -> None:
    body = (
        BOM
        + b"entry_id,cue_point_id,user_id,user_name,user_email,user_type,"
        + b"meeting_view_time,meeting_engaged_play_time_ratio\n"
        + b"1_a,c1,u1,Ann,a@x,Attendee,1,0.5\n"
        + b'1_b,c2,u2,"Bob ""B"" Smith",b@x,Host,2,0.5\n'
        + b"1_c,c3,u3,Cy,c@x,Attendee,3,0.5\n"
    )
    columns = ("entry_id", "cue_point_id", "user_id", "user_name", "user_email", "user_type",
               "meeting_view_time", "meeting_engaged_play_time_ratio")  # fmt: skip
    for size in (1, 7, len(body)):
        n = Normaliser(columns, key_column="entry_id")
        b"".join(n.feed(chunked(body, size)))
        assert n.keys == {"1_a", "1_b", "1_c"}
        by_user = Normaliser(columns, key_column="user_name")
        b"".join(by_user.feed(chunked(body, size)))
        assert by_user.keys == {"Ann", 'Bob "B" Smith', "Cy"}
        capped = Normaliser(columns, key_column="entry_id", row_cap=3)
        with pytest.raises(RowCapError):
            b"".join(capped.feed(chunked(body, size)))
        assert capped.keys == {"1_a", "1_b", "1_c"}  # the rows held back from S3 still count
    empty = Normaliser(columns, key_column="entry_id")
    b"".join(empty.feed([BOM + b"\n"]))
    assert empty.keys == set()
