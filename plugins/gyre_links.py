"""Links from the Airflow UI to the rest of the loop: the MLflow UI now; reports as their stages land."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from gyre.config import get_settings
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
    ]
