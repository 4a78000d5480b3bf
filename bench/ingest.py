"""Rows per second and peak memory to validate and load 1 million transactions, against a bare COPY.

One day's export of ``--rows`` transactions (the generator's days folded onto one date, ids kept unique) is
loaded three times into a private embedded Postgres, each run in a fresh process so peak RSS is its own:

* Gyre's ingest: chunked read, the Great Expectations row contract, quarantine, batch rules, the interval
  replaced in one transaction, audit and content digest (what the DAG task does);
* the same ingest validating as it did before, the row suite run on the chunk's whole frame at once rather
  than column by column;
* the obvious alternative: ``COPY transactions FROM STDIN`` of the same file, no validation, no accounting.

    .venv/bin/python bench/ingest.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = dt.date(2035, 6, 1)


def build_file(landing: Path, rows: int) -> Path:
    """``rows`` clean transactions dated ``DAY``, written as the upstream CSV export."""
    import pandas as pd

    from gyre.data import source
    from gyre.data.writer import _write

    frames, total, day = [], 0, DAY
    while total < rows:
        frame = source.export(source.transactions(7, day, "baseline"), 7, day, "baseline")
        offset = pd.Timestamp(DAY, tz="UTC") - pd.Timestamp(day, tz="UTC")
        frames.append(frame.assign(event_timestamp=frame["event_timestamp"] + offset))
        total += len(frame)
        day -= dt.timedelta(days=1)
    folder = landing / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    return _write(pd.concat(frames, ignore_index=True).head(rows), folder / "transactions", "csv")


def gyre_ingest(landing: str) -> dict:
    from gyre.ingest.load import ingest

    started = time.perf_counter()
    report = ingest("transactions", DAY, landing=Path(landing), publish_docs=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": report.rows_loaded, "quarantined": report.rows_quarantined}


def gyre_ingest_whole_frame(landing: str) -> dict:
    """The previous validation: every row rule evaluated on the chunk's full, two-dozen-column frame."""
    from gyre.validation import suite

    suite.run_by_column = suite.run
    return gyre_ingest(landing)


def bare_copy(landing: str) -> dict:
    import psycopg

    from gyre.ingest.load import ensure_schema
    from gyre.services.endpoints import libpq_url

    path = Path(landing) / DAY.isoformat() / "transactions.csv"
    ensure_schema(libpq_url())
    started = time.perf_counter()
    with psycopg.connect(libpq_url()) as conn, conn.cursor() as cur:
        cur.execute("create temp table bare on commit drop as select * from transactions with no data")
        header = path.open().readline().strip()
        with cur.copy(f"copy bare ({header}) from stdin with (format csv, header true)") as copy, path.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        cur.execute("select count(*) from bare")
        rows = cur.fetchone()[0]
    return {"seconds": time.perf_counter() - started, "rows": rows, "quarantined": 0}


def measure(kind: str, landing: Path) -> dict:
    """Run one load in a fresh interpreter and add its peak resident memory."""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import ingest; "
        f"result = ingest.{kind}({str(landing)!r}); "
        "result['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(result))"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if child.returncode:
        raise SystemExit(f"{kind} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="gyre-bench-ingest-"))
    os.environ["GYRE_HOME"] = str(home)
    from gyre.services.process import free_port

    os.environ["GYRE_POSTGRES_PORT"] = str(free_port())
    from gyre.config import get_settings
    from gyre.services.supervisor import Supervisor

    supervisor = Supervisor(get_settings(), only=("postgres",), report=lambda _: None)
    supervisor.up()
    try:
        landing = home / "landing"
        path = build_file(landing, args.rows)
        print(f"ingest of {args.rows:,} transactions ({path.stat().st_size / 1e6:.0f} MB CSV), one day, one file")
        gyre = measure("gyre_ingest", landing)
        before = measure("gyre_ingest_whole_frame", landing)
        bare = measure("bare_copy", landing)
    finally:
        supervisor.down()
    runs = (
        ("Gyre ingest (validate, quarantine, load, audit)", gyre),
        ("the same, row rules on the whole frame (before)", before),
        ("bare COPY (nothing checked)", bare),
    )
    for name, run in runs:
        print(
            f"  {name}: {run['seconds']:.1f} s, {run['rows'] / run['seconds']:,.0f} rows/s, "
            f"peak {run['peak_mb']:,.0f} MB, {run['rows']:,} loaded, {run['quarantined']:,} quarantined"
        )
    print(f"  ratio: {before['seconds'] / gyre['seconds']:.2f}x faster than before")
    print(f"  ratio: validation and accounting cost {gyre['seconds'] / bare['seconds']:.1f}x a bare COPY")


if __name__ == "__main__":
    main()
