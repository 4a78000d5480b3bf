"""
### Nightly drift check that closes the loop

Every night at 01:30 UTC, for the day that just ended (`data_interval_start`..`end`):

1. `report`: the champion's holdout (logged with its training run, scored by the champion) against the
   champion's rows of `prediction_log` in the interval; an Evidently report (drift per feature, prediction
   drift, data summary; classification quality on the window whose labels have matured) saved as HTML and
   JSON under `<GYRE_HOME>/reports/drift/`, logged to MLflow. No champion or no traffic: the run skips.
2. `decide` (branch): the rules (`GYRE_DRIFT_*`) give reasons, the guardrails (`GYRE_RETRAIN_COOLDOWN_HOURS`,
   one retrain in flight, `GYRE_RETRAIN_WEEKLY_CAP`) may hold a retrain back; report index, PSI per feature
   and the decision with its reasons are written to Postgres in one transaction.
3. `retrain` emits the Asset `retrain_request` (extra: night, reasons), which starts `train_model`; or
   `no_action`.

Re-running a night rewrites that night's rows and decides the same way (only earlier nights count for the
guardrails); a retrain already under way for the night is not requested twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, dag, task

from gyre.dag_defaults import default_args

RETRAIN_REQUEST = Asset("retrain_request")


@dag(
    schedule=CronTriggerTimetable("30 1 * * *", timezone="UTC", interval=dt.timedelta(days=1)),
    start_date=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["gyre", "monitoring"],
    default_args=default_args(),
    doc_md=__doc__,
)
def monitor_drift() -> None:
    @task
    def report(data_interval_start: dt.datetime | None = None, data_interval_end: dt.datetime | None = None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from gyre.monitoring.nightly import NothingToMonitor, build_report

        try:
            return build_report(data_interval_start, data_interval_end)
        except NothingToMonitor as reason:
            raise AirflowSkipException(str(reason)) from reason

    @task.branch
    def decide(night: dict[str, Any], ti=None) -> str:  # noqa: ANN001
        from gyre.monitoring.nightly import decide_night

        decision = decide_night(night)
        ti.xcom_push(key="decision", value={"reasons": decision.reasons, "blocked_by": decision.blocked_by})
        return "retrain" if decision.retrain else "no_action"

    @task(outlets=[RETRAIN_REQUEST])
    def retrain(night: dict[str, Any], ti=None, outlet_events=None) -> None:  # noqa: ANN001
        from airflow.sdk.exceptions import AirflowSkipException

        from gyre.monitoring.nightly import retrain_status
        from gyre.notify import Event, notify

        status = retrain_status(dt.datetime.fromisoformat(night["interval_start"]))
        if status != "requested":
            raise AirflowSkipException(f"the retrain of this night is already {status}: not requested again")
        reasons = ti.xcom_pull(task_ids="decide", key="decision")["reasons"]
        outlet_events[RETRAIN_REQUEST].extra = {
            "interval_start": night["interval_start"],
            "night": night["interval_start"][:10],
            "model_version": night["model_version"],
            "reasons": reasons,
        }
        notify(
            Event.RETRAIN,
            f"retrain requested for {night['interval_start'][:10]} (champion v{night['model_version']}): "
            + "; ".join(reasons),
            {"night": night["interval_start"], "reasons": reasons},
        )

    @task
    def no_action() -> None:
        """The decision and its reasons are already written; this branch only marks the path taken."""

    night = report()
    decide(night) >> [retrain(night), no_action()]


dag = monitor_drift()

if __name__ == "__main__":
    dag.test()
