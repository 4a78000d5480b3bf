"""Links from the Airflow UI to the rest of the loop: the MLflow UI, the nightly drift reports and the Data Docs.

The drift reports (``gyre.monitoring.web``) and Great Expectations' Data Docs (``gyre.validation.web``) are
small FastAPI apps mounted in Airflow's API server under ``/gyre/drift`` and ``/gyre/data-docs``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from gyre.config import get_settings
from gyre.monitoring import web as drift
from gyre.services.endpoints import mlflow_url
from gyre.validation import web as data_docs


class GyreLinks(AirflowPlugin):
    name = "gyre_links"
    external_views = [
        {
            "name": "MLflow — runs and registry",
            "href": mlflow_url(get_settings()),
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Drift reports — by night and model version",
            "href": f"{drift.DRIFT_REPORTS_PREFIX}/",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Data Docs — validation results by day",
            "href": f"{data_docs.DATA_DOCS_PREFIX}/",
            "destination": "nav",
            "category": "browse",
        },
    ]
    fastapi_apps = [
        {"app": drift.create_app(), "url_prefix": drift.DRIFT_REPORTS_PREFIX, "name": "Gyre drift reports"},
        {"app": data_docs.create_app(), "url_prefix": data_docs.DATA_DOCS_PREFIX, "name": "Gyre Data Docs"},
    ]
