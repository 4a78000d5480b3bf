"""Where nightly results are kept: the report index, PSI per feature over time, and retrain decisions.

Every write is an upsert keyed on the night (and model version), so re-running a night replaces its rows.
"""

from __future__ import annotations

import json
from datetime import datetime

from gyre.db import apply_schema, engine, query
from gyre.monitoring.decision import Decision, PastRetrain
from gyre.monitoring.drift import DriftResult

SCHEMA = ("monitoring/schema.sql",)


def record_night(
    interval_start: datetime,
    interval_end: datetime,
    model_version: str,
    result: DriftResult,
    decision: Decision,
    mlflow_run_id: str | None = None,
) -> None:
    """Write the report's index row, its per-feature drift and the decision, in one transaction."""
    apply_schema(SCHEMA)
    key = {"interval_start": interval_start, "model_version": model_version}
    prediction_psi = result.prediction.psi if result.prediction else None
    roc_auc = result.quality.roc_auc if result.quality else None
    with engine().begin() as connection:
        connection.execute(
            query("monitoring/upsert_report.sql"),
            key
            | {
                "interval_end": interval_end,
                "reference_rows": result.reference_rows,
                "current_rows": result.current_rows,
                "drifted_share": result.drifted_share,
                "drifted_features": result.drifted_features,
                "prediction_psi": prediction_psi,
                "roc_auc": roc_auc,
                "html_path": str(result.html_path),
                "json_path": str(result.json_path),
                "mlflow_run_id": mlflow_run_id,
            },
        )
        connection.execute(
            query("monitoring/upsert_feature_drift.sql"),
            [
                key
                | {
                    "feature": drift.column,
                    "method": drift.method,
                    "score": drift.score,
                    "threshold": drift.threshold,
                    "drifted": drift.drifted,
                    "psi": drift.psi,
                }
                for drift in [*result.features.values(), *([result.prediction] if result.prediction else [])]
            ],
        )
        connection.execute(
            query("monitoring/upsert_decision.sql"),
            key
            | {
                "interval_end": interval_end,
                "retrain": decision.retrain,
                "reasons": json.dumps(decision.reasons),
                "blocked_by": json.dumps(decision.blocked_by),
                "status": "requested" if decision.retrain else "none",
            },
        )


def past_retrains(before: datetime) -> list[PastRetrain]:
    apply_schema(SCHEMA)
    with engine().connect() as connection:
        rows = connection.execute(query("monitoring/past_retrains.sql"), {"before": before}).all()
    return [PastRetrain(requested_at=row.requested_at, finished=row.finished) for row in rows]


def set_retrain_status(interval_start: datetime, status: str) -> None:
    """Called by training as a requested retrain starts and ends (running, done, failed)."""
    with engine().begin() as connection:
        connection.execute(
            query("monitoring/set_retrain_status.sql"), {"interval_start": interval_start, "status": status}
        )
