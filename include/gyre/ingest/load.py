"""Load one feed's interval from the landing zone into Postgres: validate, quarantine, replace, audit, digest.

Everything for an interval happens in one transaction: the interval's rows are deleted first, then each chunk's
valid rows are COPYed into the table while the next chunk is read and validated (memory stays bounded by the
chunk size, and Postgres maintains the table's indexes on one core while Python validates on the other). A
row whose key the table already holds (a second copy from an earlier chunk or file, or a key loaded for another
day) is held in a stage instead; at the end the copies of such keys, and of keys GE flagged as duplicates, are
moved to quarantine with the same reasons as ever, the batch rules decide, and the interval's quarantine and
audit are replaced. A re-run or a backfill therefore leaves exactly the same rows; a batch that breaks a batch
rule, or holds a file that cannot be read at all, changes no loaded row (the transaction rolls back) and leaves
one ``ingest_rejection`` row saying why (a later load of the day that succeeds clears it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import queue
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from great_expectations.core import ExpectationSuiteValidationResult
from psycopg.types.json import Jsonb

from gyre.config import Settings, get_settings
from gyre.db import SCHEMA_LOCK
from gyre.ingest import queries
from gyre.ingest.reader import LINE, FileUnreadable, Layout, Rejected, printable, read_chunks
from gyre.services.endpoints import libpq_url
from gyre.validation import docs, suite
from gyre.validation.contract import FEEDS, LABELS, TRANSACTIONS, Feed

log = logging.getLogger(__name__)
_COPY_SLICE = 10_000


class LandingMissing(FileNotFoundError):
    """The interval's export has not landed (yet): a retry later may find it."""


@dataclass
class FileReport:
    source_file: str
    encoding: str
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """What one interval's load did; ``digest`` identifies the validated rows (the data version)."""

    feed: str
    day: dt.date
    files: list[FileReport]
    reasons: dict[str, int]
    failed_rules: list[str]
    digest: str | None = None
    docs_path: Path | None = None

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)


class BatchRejected(RuntimeError):
    """The batch broke a batch rule: nothing was loaded. Carries the report of what was found."""

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        super().__init__(
            f"{report.feed} {report.day}: batch rejected ({'; '.join(report.failed_rules)}); "
            f"{report.rows_in} rows in, {report.rows_quarantined} bad; nothing loaded. Top reasons: "
            + ", ".join(f"{r} ×{n}" for r, n in sorted(report.reasons.items(), key=lambda i: -i[1])[:5])
        )


def landing_files(landing: Path, feed: Feed, day: dt.date) -> list[Path]:
    """The interval's files for ``feed``: ``<landing>/<day>/<feed>*.csv|parquet`` (a user may add their own)."""
    folder = landing / day.isoformat()
    files = sorted(p for p in folder.glob(f"{feed.name}*") if p.suffix in (".csv", ".parquet") and p.is_file())
    if not files:
        raise LandingMissing(f"no {feed.name} file in {folder}")
    return files


def interval(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def ensure_schema(conninfo: str) -> None:
    """Create the ingest tables in a short transaction of its own, before (never inside) an interval's load."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(SCHEMA_LOCK)
        conn.execute(queries.schema())


def _utc_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """UTC instants as the text Arrow's CSV writer gives them (``2035-06-01 00:00:06Z``), formatted from their
    wall time in UTC: Arrow formats a zoned timestamp through the time zone database, which took 2 s of the
    writer's CPU per million rows (20 ms without the zone)."""
    wall_time = pc.cast(column, pa.timestamp(column.type.unit))
    return pc.binary_join_element_wise(pc.cast(wall_time, pa.string()), "Z", "")


def _valid_csv(valid: pa.Table, source: str) -> memoryview:
    """The valid rows as COPY CSV for the table (or the stage), written by Arrow from the typed columns."""
    for position, column in enumerate(valid.columns):
        if pa.types.is_timestamp(column.type) and column.type.tz == "UTC":
            valid = valid.set_column(position, valid.field(position).name, _utc_text(column))
    rows = valid.drop_columns([LINE]).append_column("source_file", pa.repeat(source, valid.num_rows))
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(rows.append_column(LINE, valid[LINE]), buffer, pacsv.WriteOptions(include_header=False))
    return memoryview(buffer.getvalue())


def _copy_valid(cur: psycopg.Cursor, name: str, feed: Feed, valid: pa.Table, source: str) -> int:
    """COPY ``valid`` with statement ``name``, written _COPY_SLICE rows at a time so that Postgres parses and
    indexes a slice while Arrow writes the next; returns the rows Postgres took."""
    with cur.copy(queries.statement(name, feed)) as copy:
        for offset in range(0, valid.num_rows, _COPY_SLICE):
            copy.write(_valid_csv(valid.slice(offset, _COPY_SLICE), source))
    return cur.rowcount


def _copy_rejected(cur: psycopg.Cursor, feed: Feed, day: dt.date, source: str, rejected: list[Rejected]) -> None:
    if not rejected:
        return
    with cur.copy(queries.statement("copy_quarantine", feed)) as copy:
        for row in rejected:
            copy.write_row((feed.name, day, source, row.line, Jsonb(row.raw), row.reasons))


def _source_name(path: Path, landing: Path) -> str:
    """The file as the audit and quarantine name it: relative to the landing zone when it is inside it."""
    return path.relative_to(landing).as_posix() if path.is_relative_to(landing) else str(path)


class _Writer:
    """The interval's connection, driven by a thread of its own while the main thread reads and validates.

    Jobs (COPYs of a chunk's rows) run in the order given, at most one waiting, so Postgres takes in a chunk
    while Python validates the next. The first job that fails stops the rest; its error is raised in the main
    thread at the next ``submit`` or when the block ends. Leaving the block waits for the jobs to finish (or,
    when the main thread raised, for the running one only), so the connection is the caller's again.
    """

    def __init__(self, cur: psycopg.Cursor) -> None:
        self._cur = cur
        self._jobs: queue.Queue[Callable[[psycopg.Cursor], None] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._work, name="ingest-writer", daemon=True)

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._error is None and not self._cancelled:
                try:
                    job(self._cur)
                except BaseException as error:  # noqa: BLE001 - handed to the main thread
                    self._error = error

    def submit(self, job: Callable[[psycopg.Cursor], None]) -> None:
        if self._error is not None:
            raise self._error
        self._jobs.put(job)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._cancelled = kind is not None
        self._jobs.put(None)
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error


@dataclass
class _Held:
    """What the table could not take at once: rows held in the stage, and whether GE flagged duplicate keys."""

    rows: int = 0
    flagged_duplicates: bool = False


def _copy_rows(cur: psycopg.Cursor, feed: Feed, rows: pa.Table, source: str, report: FileReport, held: _Held) -> None:
    """COPY a chunk's valid rows into the table. Should a key be there already (an earlier chunk's or file's
    copy, or a row of another day), the chunk is undone to its savepoint, and its rows with such keys go to
    the stage while the rest go into the table."""
    cur.execute(queries.statement("savepoint_chunk", feed))
    try:
        report.rows_loaded += _copy_valid(cur, "copy_table", feed, rows, source)
    except psycopg.errors.UniqueViolation:
        cur.execute(queries.statement("rollback_chunk", feed))
        cur.execute(queries.statement("keys_held", feed), {"keys": rows[feed.key].to_pylist()})
        clash = pc.is_in(rows[feed.key], pa.array([key for (key,) in cur.fetchall()], pa.string()))
        held.rows += _copy_valid(cur, "copy_stage", feed, rows.filter(clash), source)
        report.rows_loaded += _copy_valid(cur, "copy_table", feed, rows.filter(pc.invert(clash)), source)
    cur.execute(queries.statement("release_chunk", feed))


def _load_file(
    writer: _Writer, feed: Feed, day: dt.date, path: Path, landing: Path, chunk_rows: int, held: _Held
) -> tuple[FileReport, list[ExpectationSuiteValidationResult]]:
    """Read and validate one file chunk by chunk, handing each chunk's valid rows and its rejected records to
    the writer; returns its counts (rows loaded once the writer is done) and the GE results."""
    source = _source_name(path, landing)
    layout: Layout
    layout, chunks = read_chunks(path, feed, chunk_rows)
    report = FileReport(source, layout.encoding, missing_columns=layout.missing, extra_columns=layout.extra)
    results = []
    duplicate = suite.duplicate_reason(feed)
    for number, chunk in enumerate(chunks, start=1):
        rejected = list(chunk.rejected)
        if chunk.rows.num_rows:
            outcome = suite.validate_rows(feed, chunk.rows, day)
            results.append(outcome.result)
            bad = chunk.rows.filter(pc.is_in(chunk.rows[LINE], pa.array(list(outcome.reasons), pa.int64())))
            for raw in bad.to_pylist():
                line = int(raw.pop(LINE))
                reasons = outcome.reasons[line]
                held.flagged_duplicates |= duplicate in reasons
                rejected.append(Rejected(line, {k: printable(v) for k, v in raw.items()}, reasons))
            if outcome.valid.num_rows:
                valid = outcome.valid
                writer.submit(lambda cur, valid=valid: _copy_rows(cur, feed, valid, source, report, held))
        if rejected:
            writer.submit(lambda cur, rejected=rejected: _copy_rejected(cur, feed, day, source, rejected))
        report.rows_in += chunk.rows_in
        log.info("%s chunk %d: %d rows in, %d rejected", source, number, report.rows_in, len(rejected))
    return report, results


def _settle_held(cur: psycopg.Cursor, feed: Feed, params: dict[str, object], reports: list[FileReport]) -> None:
    """Apply the duplicate and known-elsewhere rules to the keys the table could not take at once, or that GE
    flagged as duplicates: this load's loaded copies of them go back to the stage, every copy of a key seen
    twice goes to quarantine, then every key loaded for another day; what remains (nothing, unless a clashing
    row went away meanwhile) goes into the table."""
    by_name = {r.source_file: r for r in reports}
    duplicate = suite.duplicate_reason(feed)
    cur.execute(queries.statement("unload_held", feed), {**params, "key": feed.key, "reason": duplicate})
    for source, count in cur.fetchall():
        by_name[source].rows_loaded -= count
    cur.execute(queries.statement("move_duplicates", feed), {**params, "key": feed.key, "reason": duplicate})
    cur.execute(
        queries.statement("move_known_elsewhere", feed), {**params, "reason": f"{feed.key} loaded for another day"}
    )
    cur.execute(queries.statement("insert_interval", feed), params)
    for source, count in cur.fetchall():
        by_name[source].rows_loaded += count


def _row_bounds(cur: psycopg.Cursor, feed: Feed, day: dt.date, settings: Settings) -> tuple[int, int] | None:
    """Row-count band from recent loaded days; none until three days of history exist."""
    since = day - dt.timedelta(days=settings.ingest_history_days)
    cur.execute(queries.statement("recent_row_counts", feed), {"feed": feed.name, "batch_date": day, "since": since})
    counts = [n for _, n in cur.fetchall()]
    if len(counts) < 3:
        return None
    median = statistics.median(counts)
    band = settings.ingest_label_count_band if feed.name == LABELS.name else settings.ingest_row_count_band
    return int(median / band), int(median * band) + 1


def _digest(cur: psycopg.Cursor, feed: Feed, start: dt.datetime, end: dt.datetime) -> tuple[int, str]:
    """SHA-256 of the interval's validated rows in key order (COPY text form): the data version. Rows arrive
    one by one; they are hashed and counted a megabyte at a time."""
    sha = hashlib.sha256()
    rows = 0
    block = bytearray()
    with cur.copy(queries.statement("interval_rows", feed), {"start": start, "end": end}) as copy:
        for data in copy:
            block += data
            if len(block) >= 1 << 20:
                rows += block.count(b"\n")  # COPY text escapes newlines inside values
                sha.update(block)
                block.clear()
    rows += block.count(b"\n")
    sha.update(block)
    return rows, f"sha256:{sha.hexdigest()}"


def ingest(
    feed_name: str,
    day: dt.date,
    *,
    landing: Path | None = None,
    conninfo: str | None = None,
    settings: Settings | None = None,
    max_bad_share: float | None = None,
    publish_docs: bool = True,
) -> IngestReport:
    """Validate and load ``feed_name``'s files for ``day``; raises BatchRejected if a batch rule fails."""
    settings = settings or get_settings()
    feed = FEEDS[feed_name]
    landing = landing or settings.landing
    files = landing_files(landing, feed, day)
    start, end = interval(day)
    params = {"feed": feed.name, "batch_date": day, "start": start, "end": end}
    conninfo = conninfo or libpq_url(settings)
    ensure_schema(conninfo)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for name in ("lock_interval", "create_stage", "create_quarantine_stage", "delete_interval"):
            cur.execute(queries.statement(name, feed), params)
        reports, row_results, held = [], [], _Held()
        try:
            with _Writer(cur) as writer:
                for path in files:
                    report, results = _load_file(writer, feed, day, path, landing, settings.ingest_chunk_rows, held)
                    reports.append(report)
                    row_results.append((report.source_file, results))
        except FileUnreadable as error:
            source = _source_name(error.path, landing)
            _record_rejection(conn, feed, params, "file unreadable", [f"{source}: {error.reason}"], [source])
            raise
        cur.execute(queries.statement("analyze_interval", feed))
        if held.rows or held.flagged_duplicates:
            _settle_held(cur, feed, params, reports)
        _count_per_file(cur, feed, reports)
        reasons = _reason_counts(cur, feed)
        profile = _profile(cur, feed, reports, params)
        bounds = _row_bounds(cur, feed, day, settings)
        share = settings.ingest_max_bad_share if max_bad_share is None else max_bad_share
        batch_result = suite.run(suite.batch_suite(feed, share, bounds), profile, None)
        report = IngestReport(feed.name, day, reports, reasons, suite.failed_rules(batch_result))
        if publish_docs:
            report.docs_path = docs.publish(feed, day, row_results, batch_result, settings)
        if report.failed_rules:
            sources = [f.source_file for f in reports]
            _record_rejection(conn, feed, params, "batch rule", report.failed_rules, sources, report)
            raise BatchRejected(report)
        for name in ("delete_quarantine", "insert_quarantine", "delete_audit", "delete_rejection"):
            cur.execute(queries.statement(name, feed), params)
        for file in reports:
            cur.execute(queries.statement("insert_audit", feed), {**params, **file.__dict__})
        rows, report.digest = _digest(cur, feed, start, end)
        cur.execute(queries.statement("replace_snapshot", feed), {**params, "rows": rows, "digest": report.digest})
    log.info(
        "%s %s: %d rows in, %d loaded, %d quarantined; digest %s",
        feed.name, day, report.rows_in, report.rows_loaded, report.rows_quarantined, report.digest,
    )  # fmt: skip
    return report


def _record_rejection(
    conn: psycopg.Connection,
    feed: Feed,
    params: dict[str, object],
    rejected_as: str,
    reasons: list[str],
    sources: list[str],
    report: IngestReport | None = None,
) -> None:
    """Undo the interval's staging and record, in a transaction of its own, why the day loaded nothing: the
    task log is not where an operator (or the next stage) looks for the state of a day."""
    conn.rollback()
    row = {
        **params,
        "rejected_as": rejected_as,
        "reasons": reasons,
        "source_files": sources,
        "rows_in": report.rows_in if report else None,
        "rows_quarantined": report.rows_quarantined if report else None,
        "row_reasons": Jsonb(report.reasons if report else {}),
    }
    with conn.cursor() as cur:
        cur.execute(queries.statement("lock_interval", feed), params)
        cur.execute(queries.statement("record_rejection", feed), row)
    conn.commit()
    log.warning("%s %s: %s, nothing loaded: %s", feed.name, params["batch_date"], rejected_as, "; ".join(reasons))


def _count_per_file(cur: psycopg.Cursor, feed: Feed, reports: list[FileReport]) -> None:
    """Quarantined per file, from the stage; loaded per file is what Postgres reported for the COPYs and moves.
    Every record read must be one or the other."""
    by_name = {r.source_file: r for r in reports}
    cur.execute(queries.statement("quarantined_per_file", feed))
    for source, count in cur.fetchall():
        by_name[source].rows_quarantined = count
    for r in reports:
        if r.rows_in != r.rows_loaded + r.rows_quarantined:
            raise AssertionError(f"{r.source_file}: {r.rows_in} rows in != {r.rows_loaded} + {r.rows_quarantined}")


def _reason_counts(cur: psycopg.Cursor, feed: Feed) -> dict[str, int]:
    cur.execute(queries.statement("reason_counts", feed))
    return dict(cur.fetchall())


def _profile(cur: psycopg.Cursor, feed: Feed, reports: list[FileReport], params: dict[str, object]) -> pd.DataFrame:
    """The one-row frame the batch suite judges."""
    rows_in = sum(r.rows_in for r in reports)
    bad = sum(r.rows_quarantined for r in reports)
    profile = {"rows_in": rows_in, "rows_valid": rows_in - bad, "bad_share": bad / rows_in if rows_in else 0.0}
    if feed.name == TRANSACTIONS.name:
        cur.execute(queries.statement("median_amount", feed), params)
        profile["median_amount"] = cur.fetchone()[0]
    return pd.DataFrame([profile])
