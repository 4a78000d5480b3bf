"""Rows per second and peak memory to validate and load 1 million transactions, against a bare COPY.

One day's export of ``--rows`` transactions (the generator's days folded onto one date, ids kept unique) is
loaded into a private embedded Postgres by each of these, each run in a fresh process so peak RSS is its own and
from empty ingest tables:

* Gyre's ingest: chunked columnar read, the Great Expectations row contract, quarantine, batch rules, the
  interval replaced in one transaction, audit and content digest (what the DAG task does);
* with ``--before REF``, the same function from the code at git revision ``REF`` (its ``include`` and ``sql``
  unpacked to a temporary folder and put first on the child's ``PYTHONPATH``), on the same file and server;
* the obvious alternative: ``COPY transactions FROM STDIN`` of the same file, no validation, no accounting.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--before fa149ef]
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

from revision import unpack

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


def measure(kind: str, landing: Path, package: Path | None = None) -> dict:
    """Run one load in a fresh interpreter (``package`` first on its path) and add its peak resident memory.
    Each load starts from empty ingest tables, as a new day's does."""
    import psycopg

    from gyre.services.endpoints import libpq_url

    with psycopg.connect(libpq_url()) as conn:
        conn.execute(
            "drop table if exists transactions, labels, quarantine, ingest_audit, ingest_rejection, ingest_snapshot"
        )
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import ingest; "
        f"result = ingest.{kind}({str(landing)!r}); "
        "result['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(result))"
    )
    env = {**os.environ, "PYTHONPATH": str(package)} if package else None
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    if child.returncode:
        raise SystemExit(f"{kind} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--before", help="git revision whose ingest to measure beside this one")
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
        runs = [("Gyre ingest (validate, quarantine, load, audit)", gyre)]
        if args.before:
            before = measure("gyre_ingest", landing, unpack(args.before, home / "before"))
            runs.append((f"the same ingest at {args.before} (before)", before))
        bare = measure("bare_copy", landing)
        runs.append(("bare COPY (nothing checked)", bare))
    finally:
        supervisor.down()
    for name, run in runs:
        print(
            f"  {name}: {run['seconds']:.1f} s, {run['rows'] / run['seconds']:,.0f} rows/s, "
            f"peak {run['peak_mb']:,.0f} MB, {run['rows']:,} loaded, {run['quarantined']:,} quarantined"
        )
    if args.before:
        print(f"  ratio: {before['seconds'] / gyre['seconds']:.2f}x faster than before")
    print(f"  ratio: validation and accounting cost {gyre['seconds'] / bare['seconds']:.1f}x a bare COPY")


if __name__ == "__main__":
    main()
