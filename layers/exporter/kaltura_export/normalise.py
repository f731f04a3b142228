"""Streaming normalisation of a Kaltura report body into the CSV landed for Athena.

Kaltura sends a UTF-8 BOM, a header and ``\\n``-terminated rows; it does not quote (it turns every comma inside a
value into a space), yet some values arrive pre-quoted RFC 4180 style. What lands is UTF-8 without BOM, exactly the
catalogue's columns in the catalogue's order, ``csv.QUOTE_MINIMAL`` with ``\\n`` line ends, and no CR or LF inside
a value (Athena's OpenCSVSerDe cannot read them).

Pure: standard library only. Most lines need no re-quoting, so they never go through the ``csv`` module: when
Kaltura's header is the catalogue's, a region of whole lines without ``"`` or ``\\r`` passes through untouched.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

from .errors import RowCapError, SchemaError, TransientKalturaError

BOM = b"\xef\xbb\xbf"
#: every byte but the comma and the newline: deleting them leaves a region's shape, one ",,,\n" per line
_NOT_SHAPE = bytes(b for b in range(256) if b not in b",\n")

_T = TypeVar("_T")


@dataclass
class NormaliseStats:
    """What one body held and what was done to it (for the manifest and the notification)."""

    #: data rows landed (header excluded)
    rows: int = 0
    #: body bytes read from Kaltura, BOM included
    bytes_in: int = 0
    #: bytes yielded
    bytes_out: int = 0
    #: CR or LF characters inside values replaced by a space
    newlines_replaced: int = 0
    #: the header Kaltura sent ([] when the body had no header)
    source_columns: list[str] = field(default_factory=list)
    #: columns Kaltura sent that the catalogue does not have (drift; not landed)
    added: list[str] = field(default_factory=list)
    #: catalogue columns missing from Kaltura's header, excluded ones aside (landed empty)
    dropped: list[str] = field(default_factory=list)
    #: catalogue columns the caller excluded (landed empty)
    excluded: list[str] = field(default_factory=list)
    #: True when the result had no data rows
    header_only: bool = False


class _TextSink:
    """The smallest file-like ``csv.writer`` accepts: it keeps what was written until taken."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> bytes:
        text = "".join(self.parts)
        self.parts.clear()
        return text.encode("utf-8")


def _picker(index: Sequence[int]) -> Callable[[Sequence[_T]], tuple[_T, ...]]:
    """Return a function picking ``index`` out of a row, always as a tuple."""
    if len(index) == 1:
        only = index[0]
        return lambda row: (row[only],)
    getter: Callable[[Sequence[Any]], tuple[Any, ...]] = itemgetter(*index)
    return getter


class Normaliser:
    """Turn one Kaltura report body into the landed CSV, streaming; ``stats`` is complete once ``feed`` is exhausted."""

    def __init__(
        self,
        columns: Sequence[str],
        *,
        excluded: Collection[str] = (),
        row_cap: int | None = None,
        key_column: str | None = None,
    ) -> None:
        self.columns = tuple(columns)
        if not self.columns or len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns must be non-empty and distinct: {list(self.columns)}")
        if row_cap is not None and row_cap < 1:
            raise ValueError(f"row_cap must be at least 1, got {row_cap}")
        self._excluded = frozenset(excluded)
        self._row_cap = row_cap
        #: distinct values of ``key_column`` in the landed rows (a capped result's rooms, for splitting)
        self.keys: set[str] = set()
        self._header_seen = False
        self._key_pattern: re.Pattern[bytes] | None = None
        if key_column is not None:
            # landed values never hold a comma (Kaltura turns them into spaces) nor a line break (replaced),
            # so the k-th field of each landed line is found without parsing it
            k = self.columns.index(key_column)
            if k == 0:
                # one match per run of lines sharing the key (rows come grouped by session): far fewer objects
                self._key_pattern = re.compile(rb"^([^,\n]*)(?:,[^\n]*)?\n(?:\1(?:,[^\n]*)?\n)*", re.M)
            else:
                self._key_pattern = re.compile(rb"^(?:[^,\n]*,){%d}([^,\n]*)[,\n]" % k, re.M)
        self.stats = NormaliseStats(excluded=[c for c in self.columns if c in self._excluded])

        self._text = _TextSink()
        self._writer = csv.writer(self._text, lineterminator="\n")
        self._writer.writerow(self.columns)
        self._header = self._text.take()

        self._fed = False
        self._regions: Iterator[bytes] = iter(())
        # the region of whole lines being read line by line, and the offset of its next line
        self._buf = b""
        self._pos = 0
        # header CRs are not values, so they are replaced but not counted
        self._in_data = False
        # the line the csv reader must read next, handed over by whoever found it needs quoting rules
        self._pushback: bytes | None = None
        self._continuations = 0
        self._reader = csv.reader(self._csv_lines())

        # set from Kaltura's header
        self._source_width = 0
        self._identity = False
        self._line_shape = b"\n"
        self._pick_bytes: Callable[[Sequence[bytes]], tuple[bytes, ...]] = _picker([0])
        self._pick_text: Callable[[Sequence[str]], tuple[str, ...]] = _picker([0])

    def feed(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield the landed CSV for the body arriving as ``chunks`` (byte chunks of any size).

        Raises ``SchemaError`` when the body cannot be mapped to the columns, ``TransientKalturaError``
        (``TRUNCATED_BODY``) when it was cut short, and ``RowCapError`` when it reached ``row_cap`` rows; the last
        is raised before the final chunk is yielded, so a consumer that completes only on exhaustion lands nothing.
        """
        if self._fed:
            raise RuntimeError("a Normaliser normalises one body: make a new one")
        self._fed = True
        self._regions = self._split_regions(chunks)
        out: list[bytes] = [self._header]
        # one output chunk is held back so that a capped result never reaches a consumer whole
        held = b""
        if self._read_header():
            self._in_data = True
            while True:
                if self._pos >= len(self._buf):
                    if out:
                        if held:
                            self.stats.bytes_out += len(held)
                            yield held
                        held = b"".join(out)
                        out.clear()
                        self._collect(held)
                    region = next(self._regions, None)
                    if region is None:
                        break
                    if b'"' in region or b"\r" in region:
                        self._buf, self._pos = region, 0
                    else:
                        out.append(self._clean_region(region))
                    continue
                # the whole lines before the next '"' or CR still take the fast path; only that line is parsed
                buf, pos = self._buf, self._pos
                quote, cr = buf.find(b'"', pos), buf.find(b"\r", pos)
                special = min(quote, cr) if quote >= 0 and cr >= 0 else max(quote, cr)
                if special < 0:
                    self._pos = len(buf)
                    out.append(self._clean_region(buf[pos:]))
                    continue
                nl = buf.rfind(b"\n", pos, special)
                if nl >= pos:
                    self._pos = nl + 1
                    out.append(self._clean_region(buf[pos : nl + 1]))
                out.append(self._next_record())
        rest = b"".join(out)
        self._collect(rest)
        held += rest
        self.stats.header_only = self.stats.rows == 0
        if self._row_cap is not None and self.stats.rows >= self._row_cap:
            raise RowCapError(
                f"the result reached the cap of {self._row_cap} rows and is incomplete: "
                "Kaltura silently drops the rows beyond it",
                keys=self.keys,
            )
        self.stats.bytes_out += len(held)
        yield held

    @property
    def header(self) -> bytes:
        """The landed header line."""
        return self._header

    def _collect(self, landed: bytes) -> None:
        if self._key_pattern is None or not landed:
            return
        if not self._header_seen:
            # the first landed bytes start with the header line, whose value is a column name
            self._header_seen = True
            landed = landed[len(self._header) :]
        for value in set(self._key_pattern.findall(landed)):
            text = value.decode("utf-8", "replace")
            self.keys.add(text[1:-1].replace('""', '"') if text.startswith('"') else text)

    def _split_regions(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield the body after its BOM as regions of whole lines, one per chunk that completes a line."""
        head = b""
        bom_done = False
        parts: list[bytes] = []
        for chunk in chunks:
            self.stats.bytes_in += len(chunk)
            if not bom_done:
                # the BOM itself may be split across chunks
                head += chunk
                if len(head) < len(BOM) and BOM.startswith(head):
                    continue
                bom_done = True
                chunk = head.removeprefix(BOM)
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                if chunk:
                    parts.append(chunk)
                continue
            parts.append(chunk[:cut])
            yield b"".join(parts)
            parts = [chunk[cut:]] if cut < len(chunk) else []
        if parts or (head and not bom_done):
            raise TransientKalturaError(
                f"Kaltura's response ended in the middle of a line after {self.stats.bytes_in} bytes: "
                "the body was cut short",
                code="TRUNCATED_BODY",
            )

    def _next_line(self) -> bytes | None:
        """Take the next line (with its ``\\n``) from the current region, pulling regions as needed; None at the end."""
        while self._pos >= len(self._buf):
            region = next(self._regions, None)
            if region is None:
                return None
            self._buf, self._pos = region, 0
        end = self._buf.index(b"\n", self._pos) + 1
        line = self._buf[self._pos : end]
        self._pos = end
        if b"\r" in line:
            if self._in_data:
                self.stats.newlines_replaced += line.count(b"\r")
            line = line.replace(b"\r", b" ")
        return line

    def _csv_lines(self) -> Iterator[str]:
        """Feed the csv reader: the line handed over first, then, inside a quoted value, the lines that follow."""
        while True:
            line = self._pushback
            self._pushback = None
            if line is None:
                line = self._next_line()
                if line is None:
                    raise TransientKalturaError(
                        f"Kaltura's response ended inside a quoted value after {self.stats.bytes_in} bytes: "
                        "the body was cut short",
                        code="TRUNCATED_BODY",
                    )
                self._continuations += 1
            yield line.decode("utf-8", "replace")

    def _read_csv(self, line: bytes) -> list[str]:
        self._pushback = line
        try:
            return next(self._reader)
        except csv.Error as exc:
            # csv's messages hold no values, only what went wrong (a field over the size limit...)
            where = f"row {self.stats.rows + 1}" if self._in_data else "header"
            raise SchemaError(f"Kaltura's {where} cannot be read as CSV: {exc}") from exc

    def _read_header(self) -> bool:
        """Map Kaltura's header onto the columns; False when the body is an empty result with no header."""
        line = self._next_line()
        if line is None or line == b"\n":
            if line is not None and self._next_line() is not None:
                raise SchemaError(
                    f"Kaltura's report has rows but an empty header line; expected columns {list(self.columns)}"
                )
            return False
        names = self._read_csv(line) if b'"' in line else line[:-1].decode("utf-8", "replace").split(",")
        position: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in position and name in self.columns:
                raise SchemaError(f"Kaltura's header {names} has column {name!r} twice")
            position.setdefault(name, i)
        landed = [c for c in self.columns if c not in self._excluded]
        if not any(c in position for c in landed):
            raise SchemaError(f"Kaltura's header {names} shares no column with the expected columns {landed}")
        catalogue = set(self.columns)
        self.stats.source_columns = names
        self.stats.added = [n for n in position if n not in catalogue]
        self.stats.dropped = [c for c in landed if c not in position]
        # a missing or excluded column points past the row, at the empty value appended to every row
        self._source_width = width = len(names)
        index = [width if c in self._excluded else position.get(c, width) for c in self.columns]
        self._identity = index == list(range(width))
        self._line_shape = b"," * (width - 1) + b"\n"
        self._pick_bytes = _picker(index)
        self._pick_text = _picker(index)
        return True

    def _clean_region(self, region: bytes) -> bytes:
        """Land a region of whole lines holding no ``"`` or ``\\r``: no line in it needs the csv module."""
        if self._identity and len(self.columns) > 1:
            # the region's shape vouches for every line's width in two C loops, without a Python step per
            # line (a one-column catalogue is left out: csv writes its empty value as "", not as a blank line)
            shape = region.translate(None, _NOT_SHAPE)
            lines = shape.count(b"\n")
            if shape == self._line_shape * lines:
                self.stats.rows += lines
                return region
        out = []
        for line in region[:-1].split(b"\n"):
            out.append(self._split_row(line))
            self.stats.rows += 1
        out.append(b"")
        return b"\n".join(out)

    def _split_row(self, line: bytes) -> bytes:
        """Land one unquoted line (without its ``\\n``): split, reorder, join."""
        values = line.split(b",")
        if len(values) != self._source_width:
            raise self._wrong_width(len(values))
        values.append(b"")
        # csv writes a row made of one empty value as "", so that it is not read back as a blank line
        return b",".join(self._pick_bytes(values)) or b'""'

    def _next_record(self) -> bytes:
        """Land the next record of the current region, through the csv module when it holds a ``"``."""
        line = self._next_line()
        assert line is not None  # called only while the current region has lines left
        if b'"' not in line:
            landed = self._split_row(line[:-1]) + b"\n"
            self.stats.rows += 1
            return landed
        continuations = self._continuations
        row = self._read_csv(line)
        if len(row) != self._source_width:
            raise self._wrong_width(len(row))
        self.stats.rows += 1
        if self._continuations != continuations:
            # a quoted value spanned lines: its LFs are the only ones left (CRs went in _next_line)
            self.stats.newlines_replaced += sum(v.count("\n") for v in row)
            row = [v.replace("\n", " ") for v in row]
        row.append("")
        self._writer.writerow(self._pick_text(row))
        return self._text.take()

    def _wrong_width(self, width: int) -> SchemaError:
        # only the row number and counts: the values may be personal data
        return SchemaError(
            f"Kaltura's row {self.stats.rows + 1} has {width} values where its header has {self._source_width}"
        )
