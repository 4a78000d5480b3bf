"""One night of monitoring: the champion's reference against the interval's traffic, then the retrain call.

Reference = the champion's frozen holdout (logged with its training run), scored by the champion itself.
Current = the champion's rows of ``prediction_log`` in the interval. Labels arrive weeks later, so quality
is measured on an older window, ``training_label_delay_days`` back, whose chargebacks have had time to come
in; that window gets its own small report beside the night's. The report task and the decision task are
split (the DAG branches between them), so the report's numbers travel as a plain dict through XCom.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from gyre.config import Settings, get_settings
from gyre.db import apply_schema, engine, query
from gyre.monitoring import store
from gyre.monitoring.decision import Decision, DriftRules, Guardrails, decide, drift_reasons
from gyre.monitoring.drift import ColumnDrift, DriftResult, Quality, run_drift_report
from gyre.notify import Event, notify

log = logging.getLogger(__name__)

SCORE = "score"
# Tables this stage reads but other stages own: created empty if those stages have not run yet.
READ_SCHEMAS = ("ingest/schema.sql", "serving/schema.sql")


class NothingToMonitor(RuntimeError):
    """No champion yet, or no traffic scored by it in the interval: no report, no decision."""


@dataclass(frozen=True)
class Reference:
    """The champion version, its training run, and its holdout scored by itself."""

    version: str
    run_id: str
    frame: pd.DataFrame
    numeric: list[str]
    categorical: list[str]
    label: str
    roc_auc: float | None

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def champion_reference(settings: Settings | None = None) -> Reference:
    from gyre.registry import models
    from gyre.training.pipeline import model_input
    from gyre.training.spec import FRAUD

    settings = settings or get_settings()
    version = models.version_of(settings.model_name, models.CHAMPION)
    if version is None:
        raise NothingToMonitor(f"{settings.model_name} has no champion yet")
    loaded = models.load(settings.model_name, version)
    holdout = loaded.holdout
    inputs = model_input(holdout, loaded.numeric, loaded.categorical)
    frame = inputs.assign(**{SCORE: loaded.proba(inputs), FRAUD.label: holdout[FRAUD.label].astype(int).to_numpy()})
    metrics = models.client().get_run(loaded.run_id).data.metrics
    return Reference(
        version, loaded.run_id, frame, loaded.numeric, loaded.categorical, FRAUD.label, metrics.get("test_roc_auc")
    )


def traffic(
    start: datetime, end: datetime, reference: Reference, labels_as_of: datetime, settings: Settings | None = None
) -> pd.DataFrame:
    """The champion's scored rows with ``start <= event_timestamp < end``, as model inputs, score and label."""
    from gyre.training.pipeline import model_input

    settings = settings or get_settings()
    apply_schema(READ_SCHEMAS)
    params = {
        "start": start,
        "end": end,
        "labels_as_of": labels_as_of,
        "model_name": settings.model_name,
        "model_version": reference.version,
    }
    with engine().connect() as connection:
        rows = connection.execute(query("monitoring/prediction_window.sql"), params).mappings().all()
    if not rows:
        return pd.DataFrame(columns=[*reference.features, SCORE, reference.label])
    features = pd.DataFrame([row["features"] for row in rows])
    missing = [c for c in reference.features if c not in features.columns]
    if missing:
        raise ValueError(f"prediction_log features lack the champion's inputs {missing}")
    frame = model_input(features, reference.numeric, reference.categorical)
    frame[SCORE] = [float(row["score"]) for row in rows]
    frame[reference.label] = [int(row["reported_fraud"]) for row in rows]
    return frame


def _log_to_mlflow(night: str, version: str, result: DriftResult, quality_html: Path | None, settings: Settings) -> str:
    """One MLflow run per night and model version (found again on a re-run): metrics, PSI and the reports."""
    import mlflow

    from gyre.registry.models import client
    from gyre.training.tracking import use_experiment

    experiment = use_experiment(f"{settings.model_name}-monitoring")
    found = client().search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`gyre.night` = '{night}' and tags.`gyre.model_version` = '{version}'",
        max_results=1,
    )
    run_id = found[0].info.run_id if found else None
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else f"drift {night[:10]} v{version}") as run:
        mlflow.set_tags({"gyre.night": night, "gyre.model_version": version, "gyre.kind": "drift_report"})
        metrics = {
            "drifted_share": result.drifted_share,
            "drifted_features": float(len(result.drifted_features)),
            "current_rows": float(result.current_rows),
            "reference_rows": float(result.reference_rows),
        }
        for drift in [*result.features.values(), *([result.prediction] if result.prediction else [])]:
            if drift.psi is not None:
                metrics[f"psi_{drift.column}"] = drift.psi
            metrics[f"drift_score_{drift.column}"] = drift.score
        if result.quality is not None and result.quality.roc_auc is not None:
            metrics["matured_roc_auc"] = result.quality.roc_auc
        mlflow.log_metrics(metrics)
        for path in (result.html_path, result.json_path, quality_html):
            if path is not None:
                mlflow.log_artifact(str(path), "drift_report")
        return run.info.run_id


def build_report(start: datetime, end: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Run and save the night's report (HTML, JSON, MLflow); returns its numbers as a JSON-able dict.

    Raises ``NothingToMonitor`` when there is no champion or it scored nothing in the interval.
    """
    settings = settings or get_settings()
    reference = champion_reference(settings)
    current = traffic(start, end, reference, labels_as_of=end, settings=settings)
    if current.empty:
        raise NothingToMonitor(f"version {reference.version} scored no traffic in {start:%Y-%m-%d %H:%M}..{end:%H:%M}")
    out_dir = settings.home / "reports" / "drift" / settings.model_name
    name = f"{start:%Y-%m-%dT%H%M}-v{reference.version}"
    # Labels of the night itself have not arrived: its drift report carries no quality section.
    result = run_drift_report(reference.frame, current, reference.features, SCORE, out_dir, name)
    delay = timedelta(days=settings.training_label_delay_days)
    matured = traffic(start - delay, end - delay, reference, labels_as_of=end, settings=settings)
    quality_html = None
    if not matured.empty:
        judged = run_drift_report(
            reference.frame,
            matured,
            reference.features,
            SCORE,
            out_dir,
            f"{name}-matured",
            label=reference.label,
            with_summary=False,
        )
        if judged.quality is not None:
            result = dataclasses.replace(result, quality=judged.quality)
            quality_html = judged.html_path
    run_id = _log_to_mlflow(start.isoformat(), reference.version, result, quality_html, settings)
    log.info("drift report for %s v%s: %s drifted, %s", start, reference.version, result.drifted_features, name)
    return {
        "interval_start": start.isoformat(),
        "interval_end": end.isoformat(),
        "model_version": reference.version,
        "reference_run_id": reference.run_id,
        "reference_roc_auc": reference.roc_auc,
        "mlflow_run_id": run_id,
        "result": result_to_dict(result),
    }


def result_to_dict(result: DriftResult) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(result), default=str))


def result_from_dict(data: dict[str, Any]) -> DriftResult:
    return DriftResult(
        features={name: ColumnDrift(**drift) for name, drift in data["features"].items()},
        prediction=ColumnDrift(**data["prediction"]) if data.get("prediction") else None,
        reference_rows=data["reference_rows"],
        current_rows=data["current_rows"],
        html_path=Path(data["html_path"]),
        json_path=Path(data["json_path"]),
        quality=Quality(**data["quality"]) if data.get("quality") else None,
    )


def decide_night(report: dict[str, Any], settings: Settings | None = None) -> Decision:
    """Rules, then guardrails over earlier nights; the decision is written with the report's index and PSI.

    Only nights before this one count for the guardrails, so re-running a night decides the same way.
    """
    settings = settings or get_settings()
    start = datetime.fromisoformat(report["interval_start"])
    end = datetime.fromisoformat(report["interval_end"])
    result = result_from_dict(report["result"])
    reasons = drift_reasons(result, DriftRules.from_settings(settings), report.get("reference_roc_auc"))
    decision = decide(reasons, store.past_retrains(before=start), end, Guardrails.from_settings(settings))
    store.record_night(start, end, report["model_version"], result, decision, report.get("mlflow_run_id"))
    details = {
        "night": report["interval_start"],
        "model_version": report["model_version"],
        "report": str(result.html_path),
        "reasons": decision.reasons,
        "blocked_by": decision.blocked_by,
    }
    if reasons:
        notify(Event.DRIFT, f"{start:%Y-%m-%d} v{report['model_version']}: " + "; ".join(reasons), details, settings)
    if not decision.retrain:
        notify(Event.NO_ACTION, f"{start:%Y-%m-%d}: {decision.summary}", details, settings)
    return decision


def retrain_status(interval_start: datetime) -> str | None:
    """Where this night's retrain stands, or None if the night was never decided."""
    apply_schema(store.SCHEMA)
    with engine().connect() as connection:
        return connection.execute(
            query("monitoring/decision_status.sql"), {"interval_start": interval_start}
        ).scalar_one_or_none()
