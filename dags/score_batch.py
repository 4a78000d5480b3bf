"""
### Batch inference: every transaction of a day scored by the champion

Daily at 03:00 UTC (after the day's ingest), for the calendar day that ended; backfill from the UI
(*Trigger → Backfill*) to score past days, or trigger with params:

- `start`, `end` (YYYY-MM-DD, both included): score those days instead of the data interval;
- `table` (`table` or `schema.table`): score that table's rows of the interval instead of `transactions`;
  it needs `transaction_id`, `customer_id`, `merchant_id`, `event_timestamp` and the request fields
  (`amount`, `merchant_country`, `customer_country`, `channel`, `mcc`, `card_age_days`). An unknown table
  or a missing column fails the run at once, without retries, naming what is missing.

`score` streams the rows in chunks (`GYRE_BATCH_CHUNK_ROWS`, progress in the task log), joins the champion's
FeatureService from Feast's offline store as of each transaction's time (training's own join), scores with
the champion's ONNX model (the endpoint's code) and writes `batch_scores` with model name, version, training
run id and this batch's MLflow run id. A re-run replaces the interval's rows in one transaction. Counts and
the score distribution (quantiles, histogram) go to MLflow, experiment `<model>-batch`. A day without rows
succeeds with zero and says so. The Asset `batch_scores` carries the summary.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, task

from gyre.dag_defaults import default_args

BATCH_SCORES = Asset("batch_scores")


@dag(
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC", interval=dt.timedelta(days=1)),
    start_date=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["gyre", "batch", "serving"],
    default_args=default_args(),
    doc_md=__doc__,
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first day to score (YYYY-MM-DD)"),
        "end": Param(None, type=["null", "string"], format="date", description="last day to score (included)"),
        "table": Param(None, type=["null", "string"], description="score this table instead of transactions"),
    },
)
def score_batch() -> None:
    @task(outlets=[BATCH_SCORES])
    def score(
        params: dict[str, Any] | None = None,
        data_interval_start: dt.datetime | None = None,
        data_interval_end: dt.datetime | None = None,
        outlet_events=None,  # noqa: ANN001
    ) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from gyre.batch.run import BatchInputError, request_for, score_interval

        try:
            summary = score_interval(request_for(data_interval_start, data_interval_end, params or {}))
        except BatchInputError as error:
            raise AirflowFailException(str(error)) from error
        outlet_events[BATCH_SCORES].extra = summary
        return summary

    score()


dag = score_batch()

if __name__ == "__main__":
    dag.test()
