"""Read a landing file in bounded chunks, whatever upstream did to it, and account for every record.

Upstream files arrive with a BOM, in latin-1, with a few undecodable bytes, with quotes and newlines inside
fields, with too few or too many fields on a line, with columns renamed or added. Nothing here guesses a
value: a record that cannot be read as the header says is rejected with its line number, raw values and
the reason, and every other record goes on to validation. A record holding a field over the 1 MiB field
limit is rejected the same way, with a truncated copy of what it held, and reading goes on after it.
Blank and whitespace-only lines are not records. A CSV record's line number is the physical line it starts
on (the header is line 1); a Parquet row's is its position (the first row is 1). Only a file with no readable
header, or Parquet that cannot be decoded, is unreadable; so is a CSV file holding a record longer than
``_BLOCK_BYTES`` (16 MiB), which the columnar parser cannot hold in one block.

CSV is parsed by Arrow's streaming reader, every column as bytes: its invalid-row handler hands over each
record with too few or too many fields (with its position among the records and its text), and the records'
physical lines are counted from the line breaks inside their values, so no record is touched in Python
unless it is rejected.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gyre.validation.contract import Feed

LINE = "line_number"
_SAMPLE_BYTES = 1 << 20
_SURROGATES = re.compile("[\udc80-\udcff]")  # undecodable bytes, as Python's surrogateescape keeps them
_PRIVATE = 0x10FF00  # an undecodable byte b is read as the private-use character _PRIVATE + b
_BAD_BYTES = re.compile("[\U0010ff00-\U0010ffff]")
_FIELD_LIMIT = 1 << 20
csv.field_size_limit(_FIELD_LIMIT)
_BLOCK_BYTES = 16 << 20  # what Arrow parses at a time; a record must fit in one block
_PREVIEW_CHARS = 4096  # what is kept of a record the parser gave up on
_RAW_CHARS = 256  # each of its values is cut to this in the quarantine
_UNREADABLE = f"unreadable record: field larger than field limit ({_FIELD_LIMIT})"


class FileUnreadable(RuntimeError):
    """The file cannot be read as a table at all (no readable header, Parquet that cannot be decoded)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class Rejected:
    """A record refused before or during validation: where it was, what it held, why it failed."""

    line: int
    raw: dict[str, object]
    reasons: list[str]


@dataclass
class Chunk:
    """Up to ``chunk_rows`` records: ``rows`` (contract columns as text or null, plus line_number) and rejects."""

    rows: pa.Table
    rejected: list[Rejected]

    @property
    def rows_in(self) -> int:
        return self.rows.num_rows + len(self.rejected)


@dataclass
class Layout:
    """What the file turned out to be: its encoding and how its header compares with the contract."""

    path: Path
    encoding: str
    columns: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


def printable(value: object) -> object:
    """A value safe for JSON and Postgres text: undecodable bytes as ``\\xNN``, NUL as ``\\x00``."""
    if not isinstance(value, str):
        return None if pd.isna(value) else value
    if _BAD_BYTES.search(value):
        value = _BAD_BYTES.sub(lambda bad: f"\\x{ord(bad.group()) - _PRIVATE:02x}", value)
    return value.replace("\x00", "\\x00")


def _clipped(value: str) -> object:
    return printable(value if len(value) <= _RAW_CHARS else value[:_RAW_CHARS] + "…")


def detect_encoding(sample: bytes, complete: bool) -> str:
    """BOMs first; then UTF-8 unless the sample has undecodable bytes and no valid multi-byte text at all.

    A file with a few bad bytes among valid UTF-8 stays UTF-8 (those records are rejected); one whose every
    non-ASCII byte fails as UTF-8 is latin-1, which is what such exports nearly always are.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if not complete:
        sample = sample[:-4]  # may end inside a multi-byte character
    text = sample.decode("utf-8", "surrogateescape")
    bad = len(_SURROGATES.findall(text))
    valid_non_ascii = len(text) - len(text.encode("ascii", "ignore")) - bad
    return "latin-1" if bad and not valid_non_ascii else "utf-8"


def _normalise(name: str) -> str:
    return name.strip().lower()


def _layout(path: Path, encoding: str, header: list[str], feed: Feed) -> Layout:
    columns = [_normalise(name) for name in header]
    return Layout(
        path=path,
        encoding=encoding,
        columns=columns,
        missing=[c for c in feed.required if c not in columns],
        extra=[c for c in columns if c not in feed.columns],
    )


def _breaks(text: str) -> int:
    """Line breaks in ``text`` as Python's universal newlines count them (``\\r\\n`` is one)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _holds(column: pa.Array, *needles: bytes) -> bool:
    """Whether any of ``needles`` occurs in the column's value bytes (one scan of the buffer, no kernel)."""
    data = column.buffers()[2]
    if data is None:
        return False
    values = data.to_pybytes()
    return any(needle in values for needle in needles)


def _column_breaks(column: pa.Array) -> np.ndarray:
    if not _holds(column, b"\n", b"\r"):
        return np.zeros(len(column), dtype=np.int64)
    counts = [pc.count_substring(column, pattern).to_numpy(zero_copy_only=False) for pattern in ("\n", "\r", "\r\n")]
    return counts[0] + counts[1] - counts[2]


def _private_use(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return "".join(chr(_PRIVATE + byte) for byte in error.object[error.start : error.end]), error.end


codecs.register_error("gyre-undecodable", _private_use)


def _valid_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while block := handle.read(_BLOCK_BYTES):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


class _Recoded(io.RawIOBase):
    """The file's text as UTF-8 for Arrow, each undecodable byte as a private-use character (Arrow hands a
    refused record's text to Python as UTF-8, and would fail on the raw byte)."""

    def __init__(self, path: Path, encoding: str) -> None:
        self._raw = path.open("rb")
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="gyre-undecodable")
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._pending) < size):
            block = self._raw.read(1 << 20)
            self._pending += self._decoder.decode(block, final=not block).encode("utf-8")
            self._done = not block
        size = len(self._pending) if size < 0 else size
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def close(self) -> None:
        self._raw.close()
        super().close()


def _found(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _frame(columns: list[pa.Array], lines: np.ndarray, layout: Layout, feed: Feed) -> Chunk:
    """Turn well-shaped records (one array of bytes per header column) into the contract's columns; reject
    those holding undecodable bytes or NUL, and every record when a required column is missing."""
    names = list(dict.fromkeys(layout.columns))  # a repeated header name: its first column
    first = {name: layout.columns.index(name) for name in names}
    text: dict[str, pa.Array] = {}
    stripped_text: dict[str, pa.Array] = {}
    bad = np.zeros(len(lines), dtype=bool)
    nul = np.zeros(len(lines), dtype=bool)
    for name in names:
        column = columns[first[name]]
        stripped = stripped_text[name] = pc.utf8_trim_whitespace(column.cast(pa.string()))
        text[name] = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)
        if _holds(column, b"\xf4\x8f"):
            bad |= _found(pc.match_substring_regex(stripped, _BAD_BYTES.pattern))
        if _holds(column, b"\x00"):
            nul |= _found(pc.match_substring(stripped, "\x00"))
    rejected: list[Rejected] = []
    refused = bad | nul
    if layout.missing:
        refused[:] = True
    for position in refused.nonzero()[0]:
        reasons = (["invalid UTF-8 bytes"] if bad[position] else []) + (
            ["NUL character in a field"] if nul[position] else []
        )
        shown = stripped_text if reasons else text  # an empty value: as the record held it, or None
        reasons = reasons or [f"missing column {name}" for name in layout.missing]
        raw = {name: printable(shown[name][position].as_py()) for name in names}
        rejected.append(Rejected(int(lines[position]), raw, reasons))
    keep = pa.array(~refused)
    empty = pa.nulls(len(lines), pa.string())
    rows = pa.table(
        {
            **{c: text.get(c, empty).filter(keep) for c in feed.columns},
            LINE: pa.array(lines, pa.int64()).filter(keep),
        }
    )
    return Chunk(rows, rejected)


def _fields(text: str, columns: list[str]) -> tuple[dict[str, object], list[str]]:
    """The raw values of a record the parser refused (by column name) and its fields, or the reason it cannot
    be split (a field over the limit: then its first characters, each value cut short)."""
    try:
        values = next(csv.reader(io.StringIO(text, newline=""), strict=False), [])
        error = None
    except csv.Error as failure:
        values = next(csv.reader(io.StringIO(text[:_PREVIEW_CHARS], newline=""), strict=False), [])
        error = f"unreadable record: {failure}"
    raw: dict[str, object] = {}
    for position, value in enumerate(values[: len(columns)]):
        raw[columns[position]] = _clipped(value) if error else printable(value)
    if len(values) > len(columns):
        extra = values[len(columns) :]
        raw["_extra_fields"] = [_clipped(v) if error else printable(v) for v in extra]
    return raw, [error] if error else [f"expected {len(columns)} fields, found {len(values)}"]


def _blank(text: str) -> bool:
    """An empty or whitespace-only line: not a record (a line of separators is one, with empty fields)."""
    values = next(csv.reader(io.StringIO(text[:_PREVIEW_CHARS], newline=""), strict=False), [])
    return not values or (len(values) == 1 and not values[0].strip())


def _empty_lines(path: Path, encoding: str) -> set[int]:
    """The file's empty physical lines (asked for only when a record with no value at all turns up)."""
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as text:
        return {number for number, line in enumerate(text, start=1) if line in ("\n", "\r\n", "\r")}


class _Records:
    """Arrow's record batches and its refused records, merged back into file order with physical lines."""

    def __init__(self, path: Path, layout: Layout, header_lines: int) -> None:
        self.path, self.layout = path, layout
        self.refused: list[tuple[int, str]] = []  # (record number, text); the header is record 1
        self.next_record = 2
        self.next_line = header_lines + 1
        self._empty: set[int] | None = None

    def handler(self, row: pacsv.InvalidRow) -> str:
        self.refused.append((row.number, row.text))
        return "skip"

    def split(self, batch: pa.RecordBatch) -> tuple[list[pa.Array], np.ndarray, list[Rejected]]:
        """The batch's records that reached it, with their lines, and the records refused among them."""
        width = len(self.layout.columns)
        numbers = [n for n, _ in self.refused]
        taken = 0
        while taken < len(numbers) and numbers[taken] <= self.next_record + batch.num_rows + taken:
            taken += 1
        mine, self.refused = self.refused[:taken], self.refused[taken:]
        total = batch.num_rows + taken
        sizes = np.ones(total, dtype=np.int64)
        refused_at = np.array([n - self.next_record for n, _ in mine], dtype=np.int64)
        arrived = np.ones(total, dtype=bool)
        arrived[refused_at] = False
        columns = list(batch.columns)
        sizes[arrived] += sum((_column_breaks(c) for c in columns), np.zeros(batch.num_rows, dtype=np.int64))
        sizes[refused_at] += np.array([_breaks(text) for _, text in mine], dtype=np.int64)
        starts = self.next_line + np.cumsum(sizes) - sizes
        self.next_record += total
        self.next_line += int(sizes.sum())
        rejected = []
        for (_, text), line in zip(mine, starts[refused_at], strict=True):
            if not _blank(text):
                raw, reasons = _fields(text, self.layout.columns)
                rejected.append(Rejected(int(line), raw, reasons))
        lines = starts[arrived]
        lengths = [pc.binary_length(c).to_numpy(zero_copy_only=False) for c in columns]
        drop = np.zeros(batch.num_rows, dtype=bool)
        for position in (np.maximum.reduce(lengths) > _FIELD_LIMIT).nonzero()[0]:
            values = [c[position].as_py().decode("utf-8", "surrogateescape") for c in columns]
            rejected.append(Rejected(int(lines[position]), self._raw(values), [_UNREADABLE]))
            drop[position] = True
        if width and (nothing := np.maximum.reduce(lengths) == 0).any():  # an empty line reads as empty fields
            if self._empty is None:
                self._empty = _empty_lines(self.path, self.layout.encoding)
            drop |= nothing & np.isin(lines, list(self._empty))
        if drop.any():
            keep = pa.array(~drop)
            columns, lines = [c.filter(keep) for c in columns], lines[~drop]
        return columns, lines, rejected

    def _raw(self, values: list[str]) -> dict[str, object]:
        return {name: _clipped(v) for name, v in zip(self.layout.columns, values, strict=True)}


def _csv_chunks(path: Path, feed: Feed, chunk_rows: int) -> tuple[Layout, Iterator[Chunk]]:
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
        encoding = detect_encoding(sample, complete=len(sample) < _SAMPLE_BYTES)
        handle.seek(0)
        text = io.TextIOWrapper(handle, encoding=encoding, errors="surrogateescape", newline="")
        try:
            header = next(csv.reader(text, strict=False), None)
        except csv.Error as error:
            raise FileUnreadable(path, f"header unreadable: {error}") from None
    if header is None:
        return Layout(path, encoding), iter(())
    layout = _layout(path, encoding, header, feed)
    records = _Records(path, layout, 1 + sum(_breaks(name) for name in header))
    if not header:
        raise FileUnreadable(path, "header unreadable: the first line is empty")
    names = [f"f{i}" for i in range(len(header))]
    direct = encoding in ("utf-8", "utf-8-sig") and _valid_utf8(path)  # Arrow skips a UTF-8 BOM itself
    try:
        reader = pacsv.open_csv(
            path if direct else _Recoded(path, encoding),
            read_options=pacsv.ReadOptions(
                use_threads=False,  # records are numbered only when parsed in order
                block_size=_BLOCK_BYTES,
                skip_rows=1,
                column_names=names,
            ),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=records.handler
            ),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.binary())),
        )
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error) or "Could not skip initial" in str(error):  # nothing after the header
            return layout, iter(())
        raise FileUnreadable(path, str(error)) from None

    def chunks() -> Iterator[Chunk]:
        columns: list[pa.Array] = [pa.array([], pa.binary())] * len(names)
        lines = np.zeros(0, dtype=np.int64)
        rejected: list[Rejected] = []
        done = False
        while not done:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                batch, done = pa.record_batch([pa.array([], pa.binary())] * len(names), names), True
            except pa.ArrowInvalid as error:  # a record longer than a block: no boundary to resume at
                raise FileUnreadable(path, f"line {records.next_line} on: {error}") from None
            more, more_lines, refused = records.split(batch)
            columns = [pa.concat_arrays([c, m]) for c, m in zip(columns, more, strict=True)]
            lines, rejected = np.concatenate([lines, more_lines]), rejected + refused
            while len(lines) + len(rejected) >= chunk_rows or (done and (len(lines) or rejected)):
                take = max(chunk_rows - len(rejected), 0)
                chunk = _frame([c.slice(0, take) for c in columns], lines[:take], layout, feed)
                yield Chunk(chunk.rows, rejected + chunk.rejected)
                columns, lines, rejected = [c.slice(take) for c in columns], lines[take:], []

    return layout, chunks()


def _as_text(column: pd.Series) -> pd.Series:
    """Parquet values as the text a CSV export would hold, so one validation path serves both."""
    if pd.api.types.is_datetime64_any_dtype(column):
        text = column.map(lambda v: v.isoformat(), na_action="ignore")
    else:
        text = column.astype(object).where(column.notna(), None).map(str, na_action="ignore")
    return text.astype(object).where(column.notna(), None)


def _parquet_chunks(path: Path, feed: Feed, chunk_rows: int) -> tuple[Layout, Iterator[Chunk]]:
    import pyarrow.parquet as pq

    if path.stat().st_size == 0:
        return Layout(path, "parquet"), iter(())
    try:
        parquet = pq.ParquetFile(path)
    except pa.ArrowException as error:
        raise FileUnreadable(path, str(error)) from None
    layout = _layout(path, "parquet", parquet.schema_arrow.names, feed)

    def chunks() -> Iterator[Chunk]:
        line = 1
        batches = parquet.iter_batches(batch_size=chunk_rows)
        while True:
            try:
                batch = next(batches, None)
            except pa.ArrowException as error:  # a corrupt row group: Parquet has no record boundary to resume at
                raise FileUnreadable(path, f"row {line} on: {error}") from None
            if batch is None:
                return
            frame = batch.to_pandas()
            columns = [pa.array(_as_text(frame[col]), pa.string()).fill_null("") for col in frame.columns]
            lines = np.arange(line, line + len(frame), dtype=np.int64)
            line += len(frame)
            yield _frame([c.cast(pa.binary()) for c in columns], lines, layout, feed)

    return layout, chunks()


def read_chunks(path: Path, feed: Feed, chunk_rows: int) -> tuple[Layout, Iterator[Chunk]]:
    """The file's layout at once, and its records lazily, ``chunk_rows`` at a time."""
    if path.suffix == ".parquet":
        return _parquet_chunks(path, feed, chunk_rows)
    return _csv_chunks(path, feed, chunk_rows)
