"""Read a landing file in bounded chunks, whatever upstream did to it, and account for every record.

Upstream files arrive with a BOM, in latin-1, with a few undecodable bytes, with quotes and newlines inside
fields, with too few or too many fields on a line, with columns renamed or added. Nothing here guesses a
value: a record that cannot be read as the header says is rejected with its line number, raw values and
the reason, and every other record goes on to validation. A record the CSV parser itself gives up on (a
field over the 1 MiB field limit, so memory stays bounded) is rejected the same way, with a truncated copy of
what it held, and reading goes on after it. Blank and whitespace-only lines are not records. A CSV record's
line number is the physical line it starts on (the header is line 1); a Parquet row's is its position (the
first row is 1). Only a file with no readable header, or Parquet that cannot be decoded, is unreadable.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pandas as pd

from gyre.validation.contract import Feed

LINE = "line_number"
_SAMPLE_BYTES = 1 << 20
_BAD_BYTES = re.compile("[\udc80-\udcff]")
_FIELD_LIMIT = 1 << 20
csv.field_size_limit(_FIELD_LIMIT)
_PREVIEW_CHARS = 4096  # what is kept of a record the parser gave up on
_RAW_CHARS = 256  # each of its values is cut to this in the quarantine


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
    """Up to ``chunk_rows`` records: ``rows`` (contract columns as text, plus line_number) and rejects."""

    rows: pd.DataFrame
    rejected: list[Rejected]

    @property
    def rows_in(self) -> int:
        return len(self.rows) + len(self.rejected)


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
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value.replace("\x00", "\\x00")


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
    bad = len(_BAD_BYTES.findall(text))
    valid_non_ascii = sum(1 for ch in text if ord(ch) > 127) - bad
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


def _frame(records: list[list[str]], lines: list[int], layout: Layout, feed: Feed) -> Chunk:
    """Turn well-shaped records into the contract's columns; reject those holding undecodable bytes or NUL."""
    frame = pd.DataFrame(records, columns=layout.columns, dtype=object) if records else pd.DataFrame()
    frame = frame.loc[:, ~frame.columns.duplicated()] if records else frame
    rejected: list[Rejected] = []
    if records:
        frame[LINE] = lines
        text = frame.drop(columns=LINE).apply(lambda col: col.str.strip())
        bad = text.apply(lambda col: col.str.contains(_BAD_BYTES, na=False)).any(axis=1)
        nul = text.apply(lambda col: col.str.contains("\x00", regex=False, na=False)).any(axis=1)
        for position in (bad | nul).to_numpy().nonzero()[0]:
            reasons = (["invalid UTF-8 bytes"] if bad.iloc[position] else []) + (
                ["NUL character in a field"] if nul.iloc[position] else []
            )
            raw = {k: printable(v) for k, v in text.iloc[position].items()}
            rejected.append(Rejected(int(lines[position]), raw, reasons))
        text = text[~(bad | nul)]
        text = text.astype(object).where(text.notna() & (text != ""), None)
        text[LINE] = frame.loc[text.index, LINE]
        frame = text
    if layout.missing and len(frame):
        reasons = [f"missing column {name}" for name in layout.missing]
        for raw, line in zip(frame.drop(columns=LINE).to_dict("records"), frame[LINE], strict=True):
            rejected.append(Rejected(int(line), {k: printable(v) for k, v in raw.items()}, list(reasons)))
        frame = frame.iloc[0:0]
    out = pd.DataFrame({c: frame.get(c) for c in feed.columns}, index=frame.index, dtype=object)
    out[LINE] = frame[LINE].astype("int64") if len(frame) else pd.Series(dtype="int64")
    return Chunk(out.reset_index(drop=True), rejected)


class _Lines:
    """The file's physical lines as the CSV parser takes them: counted, with the current record's quote count
    and first characters, so that a record the parser gives up on can be reported and skipped."""

    def __init__(self, text: TextIO) -> None:
        self._text = text
        self.number = 0
        self._quotes = 0
        self._preview: list[str] = []
        self._kept = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._text)
        self.number += 1
        self._quotes += line.count('"')
        if self._kept < _PREVIEW_CHARS:
            part = line[: _PREVIEW_CHARS - self._kept]
            self._preview.append(part)
            self._kept += len(part)
        return line

    def begin_record(self) -> int:
        """Forget the last record; returns the line the next one starts on."""
        self._quotes, self._preview, self._kept = 0, [], 0
        return self.number + 1

    def skip_rest_of_record(self) -> None:
        """After the parser gave up inside a quoted field, skip to the line where that quote closes (or the end):
        the parser itself would resume inside the field and read its text as records."""
        while self._quotes % 2:
            if next(self, None) is None:
                return

    def preview(self, columns: list[str]) -> dict[str, object]:
        """The record's first characters as fields by column name, each cut to ``_RAW_CHARS``."""
        values = next(csv.reader(io.StringIO("".join(self._preview), newline=""), strict=False), [])
        raw: dict[str, object] = {}
        for position, value in enumerate(values):
            name = columns[position] if position < len(columns) else f"_field_{position + 1}"
            clipped = value if len(value) <= _RAW_CHARS else value[:_RAW_CHARS] + "…"
            raw[name] = printable(clipped)
        return raw


def _blank(record: list[str]) -> bool:
    """An empty or whitespace-only line: not a record (a line of separators is one, with empty fields)."""
    return not record or (len(record) == 1 and not record[0].strip())


def _csv_chunks(path: Path, feed: Feed, chunk_rows: int) -> tuple[Layout, Iterator[Chunk]]:
    handle = path.open("rb")
    sample = handle.read(_SAMPLE_BYTES)
    encoding = detect_encoding(sample, complete=len(sample) < _SAMPLE_BYTES)
    handle.seek(0)
    source = _Lines(io.TextIOWrapper(handle, encoding=encoding, errors="surrogateescape", newline=""))
    reader = csv.reader(source, strict=False)
    try:
        header = next(reader, None)
    except csv.Error as error:
        handle.close()
        raise FileUnreadable(path, f"header unreadable: {error}") from None
    if header is None:
        handle.close()
        return Layout(path, encoding), iter(())
    layout = _layout(path, encoding, header, feed)
    width = len(header)

    def chunks() -> Iterator[Chunk]:
        with handle:
            records: list[list[str]] = []
            lines: list[int] = []
            ragged: list[Rejected] = []
            while True:
                start = source.begin_record()
                try:
                    record = next(reader, None)
                except csv.Error as error:  # a field over the limit: this record is lost, not the file
                    source.skip_rest_of_record()
                    ragged.append(Rejected(start, source.preview(layout.columns), [f"unreadable record: {error}"]))
                    record = []
                if record is None:
                    break
                if _blank(record):  # a blank line, or the unreadable record just rejected
                    pass
                elif len(record) != width:
                    raw: dict[str, object] = {k: printable(v) for k, v in zip(layout.columns, record, strict=False)}
                    if len(record) > width:
                        raw["_extra_fields"] = [printable(v) for v in record[width:]]
                    ragged.append(Rejected(start, raw, [f"expected {width} fields, found {len(record)}"]))
                else:
                    records.append(record)
                    lines.append(start)
                if len(records) + len(ragged) >= chunk_rows:
                    chunk = _frame(records, lines, layout, feed)
                    yield Chunk(chunk.rows, ragged + chunk.rejected)
                    records, lines, ragged = [], [], []
            if records or ragged:
                chunk = _frame(records, lines, layout, feed)
                yield Chunk(chunk.rows, ragged + chunk.rejected)

    return layout, chunks()


def _as_text(column: pd.Series) -> pd.Series:
    """Parquet values as the text a CSV export would hold, so one validation path serves both."""
    if pd.api.types.is_datetime64_any_dtype(column):
        text = column.map(lambda v: v.isoformat(), na_action="ignore")
    else:
        text = column.astype(object).where(column.notna(), None).map(str, na_action="ignore")
    return text.astype(object).where(column.notna(), None)


def _parquet_chunks(path: Path, feed: Feed, chunk_rows: int) -> tuple[Layout, Iterator[Chunk]]:
    import pyarrow as pa
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
            records = pd.DataFrame(
                {name: _as_text(frame[col]) for name, col in zip(layout.columns, frame.columns, strict=True)}
            )
            lines = list(range(line, line + len(frame)))
            line += len(frame)
            yield _frame(records.to_numpy().tolist(), lines, layout, feed)

    return layout, chunks()


def read_chunks(path: Path, feed: Feed, chunk_rows: int) -> tuple[Layout, Iterator[Chunk]]:
    """The file's layout at once, and its records lazily, ``chunk_rows`` at a time."""
    if path.suffix == ".parquet":
        return _parquet_chunks(path, feed, chunk_rows)
    return _csv_chunks(path, feed, chunk_rows)
