"""Loading whole days: idempotent re-runs, CSV and Parquet agree, batch rules stop bad batches, labels."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from gyre.data.writer import write_day
from gyre.ingest.load import BatchRejected, LandingMissing, ingest
from gyre.ingest.snapshot import SnapshotIncomplete, export, interval_digest
from tests.integration import ingest_support

pytestmark = pytest.mark.integration
conninfo = ingest_support.conninfo
GYRE = str(Path(sys.executable).with_name("gyre"))


def _table(conninfo: str, day: dt.date) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "select * from transactions where event_timestamp::date = %s order by transaction_id", (day,)
        ).fetchall()


def test_a_rerun_leaves_identical_rows_and_digest(conninfo: str, tmp_path: Path) -> None:
    day = dt.date(2031, 1, 6)
    write_day(tmp_path, day, seed=1)
    first = ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    rows = _table(conninfo, day)
    second = ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    assert first.rows_in == first.rows_loaded + first.rows_quarantined == len(rows) > 2000
    assert first.rows_quarantined == 0
    assert second.digest == first.digest
    assert _table(conninfo, day) == rows
    with psycopg.connect(conninfo) as conn:
        audit = conn.execute(
            "select source_file, rows_in, rows_loaded, rows_quarantined from ingest_audit "
            "where feed = 'transactions' and batch_date = %s",
            (day,),
        ).fetchall()
    assert audit == [(f"{day}/transactions.csv", len(rows), len(rows), 0)]


def test_csv_and_parquet_exports_of_a_day_load_the_same_rows(conninfo: str, tmp_path: Path) -> None:
    day = dt.date(2031, 1, 7)
    write_day(tmp_path / "csv", day, seed=1, fmt="csv")
    write_day(tmp_path / "parquet", day, seed=1, fmt="parquet")
    from_csv = ingest("transactions", day, landing=tmp_path / "csv", conninfo=conninfo)
    from_parquet = ingest("transactions", day, landing=tmp_path / "parquet", conninfo=conninfo)
    assert from_parquet.digest == from_csv.digest
    assert from_parquet.files[0].source_file == f"{day}/transactions.parquet"


def test_a_changed_export_changes_the_day_and_its_digest(conninfo: str, tmp_path: Path) -> None:
    day = dt.date(2031, 1, 8)
    write_day(tmp_path, day, seed=1)
    before = ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    write_day(tmp_path, day, seed=2)
    after = ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    assert after.digest != before.digest
    assert len(_table(conninfo, day)) == after.rows_loaded


@pytest.mark.parametrize(
    ("scenario", "rule"),
    [("null_spike", "more than 5% of rows are bad"), ("amounts_in_cents", "median amount out of range (cents?)")],
)
def test_an_upstream_bug_fails_the_batch_and_keeps_the_previous_load(
    conninfo: str, tmp_path: Path, scenario: str, rule: str
) -> None:
    day = dt.date(2031, 1, 9) if scenario == "null_spike" else dt.date(2031, 1, 10)
    write_day(tmp_path, day, seed=1)
    good = ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    write_day(tmp_path, day, seed=1, scenario=scenario)
    with pytest.raises(BatchRejected) as rejected:
        ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    assert rejected.value.report.failed_rules == [rule]
    report = rejected.value.report
    assert report.rows_in == report.rows_loaded + report.rows_quarantined
    assert len(_table(conninfo, day)) == good.rows_loaded
    assert interval_digest("transactions", day, day, conninfo)["digest"] != ""


def test_a_day_far_below_recent_volume_fails_the_row_count_rule(conninfo: str, tmp_path: Path) -> None:
    days = [dt.date(2031, 2, d) for d in (1, 2, 3, 4)]
    for day in days[:3]:
        write_day(tmp_path, day, seed=1)
        ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    write_day(tmp_path, days[3], seed=1)
    export_file = tmp_path / days[3].isoformat() / "transactions.csv"
    lines = export_file.read_text().splitlines()
    export_file.write_text("\n".join(lines[:300]) + "\n")
    with pytest.raises(BatchRejected, match="row count outside"):
        ingest("transactions", days[3], landing=tmp_path, conninfo=conninfo)


def test_a_fraud_waves_chargebacks_load_though_they_double_the_recent_volume(conninfo: str, tmp_path: Path) -> None:
    """Chargebacks are a few dozen a day and a fraud wave multiplies them: their volume band is wider than the
    transactions', so the labels monitoring needs are not rejected as an anomaly (a wave once sent 2.1x the
    median in a day). Here a day's file holds two days of an account-takeover wave's chargebacks."""
    from gyre.data import source

    days = [dt.date(2031, 5, d) for d in (1, 2, 3, 4)]
    counts = []
    for day in days[:3]:
        write_day(tmp_path, day, seed=3)
        counts.append(ingest("labels", day, landing=tmp_path, conninfo=conninfo).rows_loaded)
    write_day(tmp_path, days[3], seed=3)
    wave = pd.concat([source.labels(3, days[3] + dt.timedelta(days=i), "concept_drift") for i in range(2)])
    wave["reported_at"] = pd.Timestamp(days[3], tz="UTC") + (wave["reported_at"] - wave["reported_at"].dt.floor("D"))
    wave.to_csv(tmp_path / days[3].isoformat() / "labels.csv", index=False)
    loaded = ingest("labels", days[3], landing=tmp_path, conninfo=conninfo)
    assert loaded.rows_loaded == len(wave) > 2 * sorted(counts)[1], (len(wave), counts)


def test_labels_feed_and_range_snapshot(conninfo: str, tmp_path: Path) -> None:
    day = dt.date(2031, 3, 1)
    write_day(tmp_path, day, seed=1)
    labels = ingest("labels", day, landing=tmp_path, conninfo=conninfo)
    assert labels.rows_loaded > 5 and labels.rows_quarantined == 0
    tx = ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    snap = interval_digest("transactions", day, day, conninfo)
    assert snap["rows"] == tx.rows_loaded
    assert export("transactions", day, day, tmp_path / "snap.parquet", conninfo) == tx.rows_loaded
    with pytest.raises(SnapshotIncomplete):
        interval_digest("transactions", day, day + dt.timedelta(days=1), conninfo)
    with pytest.raises(LandingMissing):
        ingest("transactions", day + dt.timedelta(days=1), landing=tmp_path, conninfo=conninfo)


def test_days_and_feeds_loaded_in_parallel_match_serial_loads(conninfo: str, tmp_path: Path) -> None:
    """What a backfill on several workers does, one process per load: no deadlock, no catalog race, and the
    same digests as loading one by one."""
    days = [dt.date(2032, 7, 1) + dt.timedelta(days=i) for i in range(3)]
    for day in days:
        write_day(tmp_path, day, seed=5)
    jobs = [(feed, day) for day in days for feed in ("transactions", "labels")]
    workers = [
        subprocess.Popen(
            [GYRE, "data", "ingest", "--start", str(day), "--feed", feed, "--landing", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for feed, day in jobs
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr[-2000:]
    parallel = [interval_digest(feed, day, day, conninfo) for feed, day in jobs]
    for feed, day in jobs:
        ingest(feed, day, landing=tmp_path, conninfo=conninfo, publish_docs=False)
    assert [interval_digest(feed, day, day, conninfo) for feed, day in jobs] == parallel
