"""
### Watch a canary rollout: widen, complete or roll back

With `GYRE_ROLLOUT_MODE=canary`, a version that passes `train_model`'s gate becomes the `canary` (alias) on the
first share of `GYRE_CANARY_STEPS`; the scoring endpoint routes that share of customers to it by a hash of the
customer id and logs the arm of every answer in `prediction_log`. Every five minutes:

1. `check` (branch): loads the canary's ONNX as serving does and compares the step's answers of both arms
   (error rate, latency p99, score PSI, ROC-AUC where labels have matured) with the `GYRE_CANARY_*` thresholds.
   No canary running: the run skips.
2. `roll_back` (alias `canary` removed, `champion` untouched, audit row with the reason, notifier event) when
   any threshold is crossed or the ONNX does not load; `hold` while the step is younger than
   `GYRE_CANARY_HOLD_MINUTES` or either arm has fewer than `GYRE_CANARY_MIN_REQUESTS` answers; `widen` to the
   next step; or `complete` when that step is 100 %: `champion` moves to the canary (audit rows, `gyre model
   history`), `previous-champion` keeps the old one, and the Asset `champion_model` starts `deploy_model`.

The serving process follows every change by polling the registry: no restart, no failed request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, dag, task

from gyre.dag_defaults import default_args

CHAMPION_MODEL = Asset("champion_model")


def _apply(ti: Any) -> str:  # noqa: ANN401
    from gyre.rollout.canary import Verdict, apply

    return apply(Verdict(**ti.xcom_pull(task_ids="check", key="verdict")))


@dag(
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["gyre", "serving", "rollout"],
    default_args=default_args(),
    doc_md=__doc__,
)
def canary_rollout() -> None:
    @task.branch
    def check(ti=None) -> str:  # noqa: ANN001
        from airflow.sdk.exceptions import AirflowSkipException

        from gyre.rollout.canary import check as judge

        verdict = judge()
        if verdict is None:
            raise AirflowSkipException("no canary is running")
        ti.xcom_push(key="verdict", value=verdict.as_dict())
        return verdict.action

    @task
    def hold() -> None:
        """The step goes on; why is in `check`'s log."""

    @task
    def widen(ti=None) -> str:  # noqa: ANN001
        return _apply(ti)

    @task(outlets=[CHAMPION_MODEL])
    def complete(ti=None, outlet_events=None) -> str:  # noqa: ANN001
        verdict = ti.xcom_pull(task_ids="check", key="verdict")
        outlet_events[CHAMPION_MODEL].extra = {"version": verdict["version"], "via": "canary"}
        return _apply(ti)

    @task
    def roll_back(ti=None) -> str:  # noqa: ANN001
        return _apply(ti)

    check() >> [hold(), widen(), complete(), roll_back()]


dag = canary_rollout()

if __name__ == "__main__":
    dag.test()
