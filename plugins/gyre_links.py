"""Links from the Airflow UI to the rest of the loop: the MLflow UI and the nightly drift reports.

The drift reports are a small FastAPI app (``gyre.monitoring.web``) mounted in Airflow's API server under
``/gyre/drift``: the index by night and model version, and each report's HTML and JSON.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from gyre.config import get_settings
from gyre.monitoring.web import DRIFT_REPORTS_PREFIX, create_app
from gyre.services.endpoints import mlflow_url


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
            "href": f"{DRIFT_REPORTS_PREFIX}/",
            "destination": "nav",
            "category": "browse",
        },
    ]
    fastapi_apps = [{"app": create_app(), "url_prefix": DRIFT_REPORTS_PREFIX, "name": "Gyre drift reports"}]
