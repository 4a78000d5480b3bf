"""The loop at a glance, read-only: who serves, how the aliases moved, the last drift check, retrain and gate.

Each part is read on its own, so a registry that does not answer still leaves the drift check on the page
(its part says why instead). Links point at the tools that hold the detail: the Evidently report served by
the Airflow plugin, the MLflow run and model version, and the Airflow DAGs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from gyre.config import Settings
from gyre.db import apply_schema, engine, query

LOOP_DAGS = (
    "ingest_transactions", "build_features", "train_model", "deploy_model", "monitor_drift", "index_documents",
    "judge_answers",
)  # fmt: skip


def _part(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as error:  # noqa: BLE001 - one unreachable store must not blank the whole page
        return {"error": f"{type(error).__name__}: {error}"[:300]}


def _champion(settings: Settings, mlflow: str) -> dict[str, Any]:
    from gyre.registry import models

    name = settings.model_name
    aliases = {alias: models.version_of(name, alias) for alias in (models.CHAMPION, models.CHALLENGER, models.PREVIOUS)}
    champion = aliases[models.CHAMPION]
    run_id = models.client().get_model_version(name, champion).run_id if champion else None
    return {
        "model_name": name,
        "aliases": aliases,
        "run_id": run_id,
        "run_url": f"{mlflow}/#/runs/{run_id}" if run_id else None,
        "version_url": f"{mlflow}/#/models/{name}/versions/{champion}" if champion else None,
    }


def _history(settings: Settings) -> list[dict[str, Any]]:
    from gyre.registry import audit

    return [asdict(move) | {"moved_at": move.moved_at.isoformat()} for move in audit.history(settings.model_name, 10)]


def _gate(history: Any) -> dict[str, Any] | None:
    """The newest gate verdict in the alias history: a promotion to champion or a rejection."""
    if not isinstance(history, list):
        return None
    verdicts = (m for m in history if m["action"] == "reject" or (m["action"], m["alias"]) == ("promote", "champion"))
    return next(verdicts, None)


def _drift(airflow: str, mlflow: str) -> dict[str, Any] | None:
    from gyre.monitoring.web import DRIFT_REPORTS_PREFIX, describe_decision, list_reports

    reports = list_reports(1)
    if not reports:
        return None
    night = reports[0]
    page = f"{airflow}{DRIFT_REPORTS_PREFIX}/reports/{night['night']}/{night['model_version']}"
    run = night["mlflow_run_id"]
    return night | {
        "decision": describe_decision(night),
        "report_url": page,
        "json_url": f"{page}/json",
        "run_url": f"{mlflow}/#/runs/{run}" if run else None,
    }


def _retrain() -> dict[str, Any] | None:
    from gyre.monitoring.store import SCHEMA

    apply_schema(SCHEMA)
    with engine().connect() as connection:
        row = connection.execute(query("console/last_retrain.sql")).mappings().one_or_none()
    return None if row is None else dict(row) | {"interval_start": row["interval_start"].isoformat()}


def _knowledge_base() -> dict[str, Any] | None:
    from gyre.rag.schema import ensure_schema

    ensure_schema()
    with engine().connect() as connection:
        row = connection.execute(query("console/knowledge_base.sql")).mappings().one_or_none()
    if row is None:
        return None
    swapped = row["swapped_at"]
    return dict(row) | {"swapped_at": swapped.isoformat() if swapped else None}


def _answer_quality() -> list[dict[str, Any]]:
    """The judged days, newest first (the judge_answers DAG writes one row per day)."""
    from gyre.rag.schema import ensure_schema

    ensure_schema()
    with engine().connect() as connection:
        rows = connection.execute(query("console/answer_quality.sql")).mappings().all()
    return [dict(row) | {"day": row["day"].isoformat(), "below": list(row["below"])} for row in rows]


def loop_status(settings: Settings) -> dict[str, Any]:
    """Everything the console's loop panel shows, as JSON."""
    from gyre.monitoring.web import DRIFT_REPORTS_PREFIX
    from gyre.services.endpoints import airflow_url, mlflow_url

    airflow, mlflow = airflow_url(settings), mlflow_url(settings)
    history = _part(lambda: _history(settings))
    return {
        "champion": _part(lambda: _champion(settings, mlflow)),
        "history": history,
        "gate": _gate(history),
        "drift": _part(lambda: _drift(airflow, mlflow)),
        "retrain": _part(_retrain),
        "knowledge_base": _part(_knowledge_base),
        "answer_quality": _part(_answer_quality),
        "links": {
            "drift_reports": f"{airflow}{DRIFT_REPORTS_PREFIX}/",
            "mlflow": mlflow,
            "airflow": airflow,
            "dags": {dag_id: f"{airflow}/dags/{dag_id}" for dag_id in LOOP_DAGS},
        },
    }
