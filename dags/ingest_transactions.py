"""
### Ingest and validate the day's card transactions and chargebacks

For each daily interval, takes the files upstream dropped in `<landing>/<YYYY-MM-DD>/`
(`transactions*.csv|parquet`, `labels*.csv|parquet`), validates them against the Great Expectations
contract, and replaces exactly that interval in Postgres in one transaction:

* valid rows go to `transactions` / `labels`; every bad row goes to `quarantine` with its file, line
  number, raw values and reasons; `ingest_audit` gets one row per file (rows_in = loaded + quarantined);
* a record that cannot be read (a field over 1 MiB) is quarantined like any bad row, and the rest loads;
* a batch that breaks a batch rule (too many bad rows, a row count far from recent days, amounts in the
  wrong unit), or a file that cannot be read at all (no readable header, corrupt Parquet), fails the task
  without retries and loads nothing; `ingest_rejection` says why for that day;
* Data Docs for every run are published under `<home>/data_docs` (linked from the Browse menu).

Re-running or backfilling a day leaves identical rows. Backfill with `airflow backfill create --dag-id
ingest_transactions --from-date ... --to-date ...` (or the UI); catchup is off so that unpausing the DAG
does not start a run for every day since `start_date` that has no export. A successful load updates the Asset
`validated_transactions` with the day's row count and content digest, which the features stage listens to.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from gyre.dag_defaults import default_args

VALIDATED_TRANSACTIONS = Asset("validated_transactions")
VALIDATED_LABELS = Asset("validated_labels")


def _load(feed: str, data_interval_start: dt.datetime) -> dict[str, object]:
    """Run the load for the interval's day; a broken batch rule or an unreadable file is a hard failure: the
    same export would fail the same way on a retry (a missing export is retried)."""
    from airflow.sdk.exceptions import AirflowFailException

    from gyre.ingest.load import BatchRejected, ingest
    from gyre.ingest.reader import FileUnreadable

    try:
        report = ingest(feed, data_interval_start.date())
    except (BatchRejected, FileUnreadable) as error:
        raise AirflowFailException(str(error)) from error
    return {
        "feed": feed,
        "day": report.day.isoformat(),
        "rows_in": report.rows_in,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "digest": report.digest,
        "data_docs": str(report.docs_path),
    }


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,  # backfills are explicit: `airflow backfill create` or the UI's Backfill
    max_active_runs=2,
    tags=["gyre", "ingest", "validation"],
    default_args=default_args(),
    doc_md=__doc__,
)
def ingest_transactions() -> None:
    @task(outlets=[VALIDATED_TRANSACTIONS])
    def load_transactions(data_interval_start: dt.datetime | None = None, outlet_events=None) -> dict[str, object]:  # noqa: ANN001
        summary = _load("transactions", data_interval_start)
        outlet_events[VALIDATED_TRANSACTIONS].extra = summary
        return summary

    @task(outlets=[VALIDATED_LABELS])
    def load_labels(data_interval_start: dt.datetime | None = None, outlet_events=None) -> dict[str, object]:  # noqa: ANN001
        summary = _load("labels", data_interval_start)
        outlet_events[VALIDATED_LABELS].extra = summary
        return summary

    load_transactions()
    load_labels()


dag = ingest_transactions()

if __name__ == "__main__":
    dag.test()
