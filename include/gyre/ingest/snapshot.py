"""Data versions: the digest of a validated range of days, built from the per-day digests of each load.

A day's digest is the SHA-256 of its validated rows in key order, computed in the same transaction that
loaded them; a range's digest hashes the days' digests in order. Training records it, so a model can be
traced back to exactly the rows it saw, and a changed day shows up as a changed version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import psycopg

from gyre.ingest import queries
from gyre.ingest.load import interval
from gyre.services.endpoints import libpq_url
from gyre.validation.contract import FEEDS

_FETCH_ROWS = 100_000


class SnapshotIncomplete(LookupError):
    """Some day of the range has not been validated and loaded."""


def interval_digest(feed: str, first: dt.date, last: dt.date, conninfo: str | None = None) -> dict[str, object]:
    """``{"feed", "first", "last", "rows", "digest"}`` of the validated days ``first``..``last`` (included)."""
    with psycopg.connect(conninfo or libpq_url()) as conn:
        found = conn.execute(
            queries.statement("snapshots", FEEDS[feed]), {"feed": feed, "first": first, "last": last}
        ).fetchall()
    missing = sorted({first + dt.timedelta(days=i) for i in range((last - first).days + 1)} - {d for d, _, _ in found})
    if missing:
        raise SnapshotIncomplete(f"{feed}: no validated load for {', '.join(map(str, missing[:10]))}")
    sha = hashlib.sha256()
    for day, rows, digest in found:
        sha.update(f"{day.isoformat()} {rows} {digest}\n".encode())
    return {
        "feed": feed,
        "first": first.isoformat(),
        "last": last.isoformat(),
        "rows": sum(rows for _, rows, _ in found),
        "digest": f"sha256:{sha.hexdigest()}",
    }


def export(feed: str, first: dt.date, last: dt.date, out: Path, conninfo: str | None = None) -> int:
    """Write the validated rows of the range to one Parquet file, in bounded batches; returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    contract = FEEDS[feed]
    start, end = interval(first)[0], interval(last)[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    writer: pq.ParquetWriter | None = None
    with psycopg.connect(conninfo or libpq_url()) as conn, conn.cursor(name="snapshot_export") as cur:
        cur.execute(queries.statement("export_rows", contract), {"start": start, "end": end})
        while batch := cur.fetchmany(_FETCH_ROWS):
            table = pa.Table.from_pylist([dict(zip(contract.columns, row, strict=True)) for row in batch])
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table.cast(writer.schema))
            rows += len(batch)
    if writer is not None:
        writer.close()
    return rows
