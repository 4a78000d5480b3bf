"""The drift reports as pages: the index by night and model version, each report's HTML and JSON, and the
quality report on the matured labels of the night ``training_label_delay_days`` back.

Mounted inside Airflow's API server by the ``gyre_links`` plugin (``fastapi_apps``), so the reports are
one click from the Airflow UI. Only files recorded in the report index (and the matured report saved beside
one) lying under ``<GYRE_HOME>/reports`` are ever served: a path never comes from the request.

A report page opens with Gyre's decision for the night: Evidently's own headline ("Dataset Drift is (NOT)
detected") is its rule, half of all columns including the model's score, not the rules that decide a retrain.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from gyre.config import Settings, get_settings

NIGHT_FORMAT = "%Y-%m-%dT%H%M"
DRIFT_REPORTS_PREFIX = "/gyre/drift"  # where plugins/gyre_links.py mounts this app in the Airflow API server


def list_reports(
    limit: int = 100, interval_start: datetime | None = None, model_version: str | None = None
) -> list[dict[str, Any]]:
    from gyre.db import apply_schema, engine, query
    from gyre.monitoring.store import SCHEMA

    apply_schema(SCHEMA)
    params = {"limit": limit, "interval_start": interval_start, "model_version": model_version}
    with engine().connect() as connection:
        rows = connection.execute(query("monitoring/list_reports.sql"), params).mappings().all()
    return [
        {
            **{key: value for key, value in row.items() if key not in ("html_path", "json_path")},
            "night": row["interval_start"].astimezone(UTC).strftime(NIGHT_FORMAT),
            "interval_start": row["interval_start"].isoformat(),
            "interval_end": row["interval_end"].isoformat(),
        }
        for row in rows
    ]


def describe_decision(row: dict[str, Any]) -> str:
    """A night's decision in words, as the report index and the console show it."""
    if row["retrain"] is None:
        return "undecided"
    if row["retrain"]:
        return f"retrain ({row['status']})"
    return "held back: " + "; ".join(row["blocked_by"]) if row["blocked_by"] else "no action"


def _index_page(rows: list[dict[str, Any]], mlflow: str) -> str:
    def cell(value: object) -> str:
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    body = []
    for row in rows:
        link = f"reports/{row['night']}/{html.escape(row['model_version'])}"
        run = row["mlflow_run_id"]
        body.append(
            "<tr>"
            + cell(row["night"][:10])
            + cell(row["model_version"])
            + cell(f"{row['current_rows']} / {row['reference_rows']}")
            + cell(f"{row['drifted_share']:.0%}: {', '.join(row['drifted_features'])}")
            + cell(None if row["prediction_psi"] is None else f"{row['prediction_psi']:.3f}")
            + cell(None if row["roc_auc"] is None else f"{row['roc_auc']:.3f}")
            + cell(describe_decision(row))
            + cell("; ".join(row["reasons"] or []))
            + f'<td><a href="{link}">report</a> · <a href="{link}/json">json</a>'
            + (f' · <a href="{link}/matured">quality</a>' if row["roc_auc"] is not None else "")
            + (f' · <a href="{html.escape(mlflow)}/#/runs/{html.escape(run)}">mlflow</a>' if run else "")
            + "</td></tr>"
        )
    head = "".join(
        f"<th>{name}</th>"
        for name in ("night", "model version", "rows (current / reference)", "drifted", "prediction PSI",
                     "ROC-AUC (matured)", "decision", "reasons", "")
    )  # fmt: skip
    empty = "" if rows else "<p>No drift report yet: the <code>monitor_drift</code> DAG writes one per night.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Gyre drift reports</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style></head>"
        f"<body><h1>Drift reports</h1>{empty}<table><tr>{head}</tr>{''.join(body)}</table></body></html>"
    )


def report_file(night: str, model_version: str, kind: str, settings: Settings | None = None) -> Path:
    """The indexed file of one night's report; 400 for a malformed night, 404 for anything not indexed."""
    from gyre.db import engine, query

    settings = settings or get_settings()
    try:
        start = datetime.strptime(night, NIGHT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(400, f"night must look like 2026-03-20T0000 (UTC), got {night!r}") from None
    with engine().connect() as connection:
        row = connection.execute(
            query("monitoring/report_paths.sql"), {"interval_start": start, "model_version": model_version}
        ).one_or_none()
    if row is None:
        raise HTTPException(404, f"no drift report for night {night} and model version {model_version}")
    path = Path(row.json_path if kind == "json" else row.html_path)
    if kind == "matured":  # saved beside the night's report by gyre.monitoring.nightly.build_report
        path = path.with_name(f"{path.stem}-matured{path.suffix}")
    path = path.resolve()
    if not path.is_relative_to((settings.home / "reports").resolve()) or not path.is_file():
        what = "matured-labels quality report" if kind == "matured" else "report file"
        raise HTTPException(404, f"the {what} of night {night}, version {model_version} is not on this machine")
    return path


def _banner(row: dict[str, Any], mlflow: str) -> str:
    """Gyre's verdict on the night, above Evidently's report, with the way to its neighbours."""
    escape = html.escape
    drifted = row["drifted_features"]
    facts = [
        f"{row['drifted_share']:.0%} of the model's features drifted by Gyre's per-column tests"
        + (f" ({', '.join(drifted)})" if drifted else ""),
        "prediction PSI " + ("–" if row["prediction_psi"] is None else f"{row['prediction_psi']:.3f}"),
        "ROC-AUC on matured labels " + ("–" if row["roc_auc"] is None else f"{row['roc_auc']:.3f}"),
    ]
    version = escape(row["model_version"])
    links = ['<a href="../../">all reports</a>', f'<a href="{version}/json">JSON</a>']
    if row["roc_auc"] is not None:
        links.append(f'<a href="{version}/matured">quality on matured labels</a>')
    if run := row["mlflow_run_id"]:
        links.append(f'<a href="{escape(mlflow)}/#/runs/{escape(run)}">MLflow run</a>')
    reasons = "; ".join(row["reasons"] or [])
    return (
        '<div id="gyre-decision" style="font-family:sans-serif;margin:1em;padding:1em;border:2px solid #444;'
        'background:#fafafa">'
        f"<h2 style='margin-top:0'>Night {escape(row['night'][:10])}, model version {version}: "
        f"{escape(describe_decision(row))}</h2>"
        + (f"<p>{escape(reasons)}</p>" if reasons else "")
        + f"<p>{escape(' · '.join(facts))}</p>"
        "<p style='color:#555'>Evidently's headline below is its own rule (dataset drift when half of all columns"
        " drift, the model's score counted as a column); the decision above is Gyre's, by the rules in the"
        " settings.</p>"
        f"<p>{' · '.join(links)}</p></div>"
    )


def create_app() -> FastAPI:
    app = FastAPI(title="Gyre drift reports", description="Nightly Evidently reports by night and model version")

    @app.get("/", response_class=HTMLResponse)
    def index(limit: int = Query(100, ge=1, le=1000)) -> str:
        from gyre.services.endpoints import mlflow_url

        return _index_page(list_reports(limit), mlflow_url())

    @app.get("/api/reports")
    def reports(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return list_reports(limit)

    @app.get("/reports/{night}/{model_version}", response_class=HTMLResponse)
    def report_html(night: str, model_version: str) -> str:
        from gyre.services.endpoints import mlflow_url

        page = report_file(night, model_version, "html").read_text()
        start = datetime.strptime(night, NIGHT_FORMAT).replace(tzinfo=UTC)  # valid: report_file parsed it
        (row,) = list_reports(1, start, model_version)
        at = re.search(r"<body[^>]*>", page)
        cut = at.end() if at else 0
        return page[:cut] + _banner(row, mlflow_url()) + page[cut:]

    @app.get("/reports/{night}/{model_version}/matured")
    def report_matured(night: str, model_version: str) -> FileResponse:
        return FileResponse(report_file(night, model_version, "matured"), media_type="text/html")

    @app.get("/reports/{night}/{model_version}/json")
    def report_json(night: str, model_version: str) -> FileResponse:
        return FileResponse(report_file(night, model_version, "json"), media_type="application/json")

    return app
