"""
### Deploy the champion: build the fraud_scorer Bento

Triggered by the Asset `champion_model` (the `promote` task of `train_model` updates it with the version).
`bentoml build` packages `bentos/fraud_scorer` (bentofile.yaml) and the Bento's tag is written on the model
version (tag `gyre.bento`). The running endpoint needs no restart: it polls the registry and swaps to the new
`champion` by itself (`GYRE_SERVING_POLL_INTERVAL_S`). Re-running for the same version reuses its Bento.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, dag, task

from gyre.dag_defaults import default_args

CHAMPION_MODEL = Asset("champion_model")


@dag(
    schedule=CHAMPION_MODEL,
    start_date=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["gyre", "serving"],
    default_args=default_args(),
    doc_md=__doc__,
)
def deploy_model() -> None:
    @task
    def champion() -> str:
        """The version `champion` points at now (after queued promotions or a rollback, the event may be stale)."""
        from airflow.sdk.exceptions import AirflowFailException

        from gyre.config import get_settings
        from gyre.registry.models import CHAMPION, version_of

        version = version_of(get_settings().model_name, CHAMPION)
        if version is None:
            raise AirflowFailException("no champion to deploy")
        return version

    @task
    def build_bento(version: str) -> dict[str, Any]:
        from gyre.serving.deploy import build_for

        return build_for(version)

    build_bento(champion())


dag = deploy_model()

if __name__ == "__main__":
    dag.test()
