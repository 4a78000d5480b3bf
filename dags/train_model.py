"""
### Train, track, register, gate and export the fraud model

Runs weekly (Monday 03:00 UTC), on demand (trigger with `{"request_id": "..."}` to name the request), and
whenever monitoring emits the Asset `retrain_request`. One task per step:

1. `plan`: the training window (it ends `GYRE_TRAINING_LABEL_DELAY_DAYS` before the run, so chargebacks
   have arrived) and the request key that makes the run idempotent;
2. `training_set`: spine of labelled transactions + Feast historical features of FeatureService
   `GYRE_FEATURE_SERVICE`, written to Parquet; a window without rows skips the run (no data yet), a too-small
   one fails here, registering nothing;
3. `train`: time split, calibrated pipeline, metrics, threshold, plots, model card, lineage, all in MLflow;
4. `export_onnx`: the whole pipeline as ONNX, parity on the frozen holdout (a failure makes it unpromotable);
5. `register`: a model version, alias `challenger`;
6. `gate` (branch): challenger vs `champion` on the same holdout, behavioural tests, floor for a first model;
7. `promote` (moves `champion`, keeps `previous-champion`, updates Asset `champion_model`) or `reject`; with
   `GYRE_ROLLOUT_MODE=canary` or `shadow`, `roll_out` instead of `promote`: the version becomes the `canary` on a
   share of traffic (DAG `canary_rollout` widens or rolls it back), or stays `challenger`, scored in shadow only.
   A first model (no champion yet) is promoted in every mode: nothing is answered yet to judge it against.

Every alias move lands in the audit table: `gyre model history`; `gyre model rollback` undoes a promotion.
Re-running a request (same `request_id`, same asset event, or same window) reuses its run and version.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from gyre.dag_defaults import default_args

RETRAIN_REQUEST = Asset("retrain_request")
CHAMPION_MODEL = Asset("champion_model")


def _close_request(ti: Any, event: str, message: str) -> None:  # noqa: ANN401
    """Notify the outcome; a retrain asked for by monitoring is marked done, so the guardrails count it finished."""
    from gyre.notify import Event, notify

    plan = ti.xcom_pull(task_ids="plan") or {}
    if plan.get("retrain_night"):
        from gyre.monitoring.store import set_retrain_status

        set_retrain_status(dt.datetime.fromisoformat(plan["retrain_night"]), "done")
    notify(Event(event), message, {"request_key": plan.get("request_key")})


@dag(
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 3 * * 1", timezone="UTC"), assets=RETRAIN_REQUEST),
    start_date=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    params={"request_id": Param(None, type=["null", "string"], description="names the request (idempotency key)")},
    tags=["gyre", "training", "registry"],
    default_args=default_args(),
    doc_md=__doc__,
)
def train_model() -> None:
    @task
    def plan(dag_run=None, params=None, triggering_asset_events=None) -> dict[str, Any]:  # noqa: ANN001
        from gyre.training.dataset import TrainingWindow

        window = TrainingWindow.ending(dag_run.run_after)
        key = (params or {}).get("request_id")
        night = None
        for events in (triggering_asset_events or {}).values():
            for event in events:
                night = night or event.extra.get("interval_start")
                key = key or f"retrain:{event.extra.get('interval_start') or event.timestamp.isoformat()}"
        if night:
            from gyre.monitoring.store import set_retrain_status

            set_retrain_status(dt.datetime.fromisoformat(night), "running")  # the guardrails see it in flight
        return {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "labels_as_of": window.labels_as_of.isoformat(),
            "request_key": key or window.key(),
            "retrain_night": night,
        }

    @task
    def training_set(plan: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from gyre.config import get_settings
        from gyre.registry.models import find_request
        from gyre.training import dataset
        from gyre.training.spec import FRAUD
        from gyre.training.split import TrainingSetTooSmall, check_size

        settings = get_settings()
        window = dataset.TrainingWindow(*(dt.datetime.fromisoformat(plan[k]) for k in ("start", "end", "labels_as_of")))
        if find_request(settings.model_name, plan["request_key"]) is not None:
            return {"path": None, "lineage": {"request_key": plan["request_key"]}}
        frame = dataset.build_training_set(window, FRAUD, settings)
        if frame.empty:  # no data yet (a fresh home's first tick): nothing to learn from is not a failure
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"{window.key()}: training window holds 0 rows; nothing to train")
        try:
            check_size(frame, FRAUD.label, settings.training_min_rows, settings.training_min_positives)
        except TrainingSetTooSmall as error:
            raise AirflowFailException(f"{window.key()}: {error}") from error
        out = settings.home / "training" / plan["request_key"].replace("/", "_").replace(":", "_")
        out.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out / "training_set.parquet", index=False)
        return {
            "path": str(out / "training_set.parquet"),
            "lineage": dataset.lineage(window, plan["request_key"]).__dict__,
        }

    @task
    def train(prepared: dict[str, Any]) -> str:
        from pathlib import Path

        from gyre.registry.models import find_request
        from gyre.training.flow import train_and_track
        from gyre.training.tracking import Lineage

        if prepared["path"] is None:
            from gyre.config import get_settings

            return find_request(get_settings().model_name, prepared["lineage"]["request_key"])[0]
        return train_and_track(Path(prepared["path"]), Lineage(**prepared["lineage"]))

    @task
    def export_onnx(mlflow_run: str) -> dict[str, Any]:
        from gyre.training.flow import export

        return export(mlflow_run)

    @task
    def register(mlflow_run: str, parity: dict[str, Any]) -> str:
        from gyre.training.flow import register as register_run

        return register_run(mlflow_run)

    @task.branch
    def gate(version: str, ti=None) -> str:  # noqa: ANN001
        from gyre.rollout import swaps
        from gyre.training.flow import gate as judge

        decision = judge(version)
        ti.xcom_push(key="decision", value={"summary": decision.summary, "metrics": decision.metrics})
        if not decision.promote:
            return "reject"
        return "promote" if swaps() else "roll_out"

    @task(outlets=[CHAMPION_MODEL])
    def promote(version: str, ti=None, outlet_events=None) -> None:  # noqa: ANN001
        from gyre.config import get_settings
        from gyre.registry.models import promote as move

        decision = ti.xcom_pull(task_ids="gate", key="decision")
        name = get_settings().model_name
        move(name, version, decision["summary"], decision["metrics"])
        outlet_events[CHAMPION_MODEL].extra = {"model": name, "version": version}
        _close_request(ti, "promoted", f"{name} version {version} is the champion: {decision['summary']}")

    @task
    def roll_out(version: str, ti=None) -> None:  # noqa: ANN001
        from gyre.config import get_settings
        from gyre.rollout import go_live

        decision = ti.xcom_pull(task_ids="gate", key="decision")
        mode = get_settings().rollout_mode
        _close_request(ti, mode, go_live(version, decision["summary"], decision["metrics"]))

    @task
    def reject(version: str, ti=None) -> None:  # noqa: ANN001
        from gyre.config import get_settings
        from gyre.registry.models import reject as record

        decision = ti.xcom_pull(task_ids="gate", key="decision")
        record(get_settings().model_name, version, decision["summary"], decision["metrics"])
        _close_request(ti, "gate_rejected", f"version {version} rejected by the gate: {decision['summary']}")

    mlflow_run = train(training_set(plan()))
    version = register(mlflow_run, export_onnx(mlflow_run))
    gate(version) >> [promote(version), roll_out(version), reject(version)]


dag = train_model()

if __name__ == "__main__":
    dag.test()
