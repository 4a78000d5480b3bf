"""The knowledge base on day one: a start that finds no live document index has Airflow build one.

Without this, a fresh `gyre up` leaves ``index_documents`` paused (Airflow pauses new DAGs) and /ask answers
"no indexed document" until someone finds the DAG. Once Airflow is ready, a background thread checks the index;
with no live version it waits for the DAG to be parsed and unpauses it (it then also runs nightly), which
starts the run of its latest scheduled slot, or triggers one run when no slot is due; a person can follow the
run in the Airflow UI. A run already queued or running is left to finish, so a restart during the first build
does not start a second one. The stack is ready before the run ends: /ask answers from the index as soon as
the run's swap makes it live.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from gyre.config import Settings

INDEX_DAG = "index_documents"
UNDER_WAY = ("queued", "running")


def index_is_live() -> bool:
    from gyre.db import engine, query
    from gyre.rag.schema import ensure_schema

    ensure_schema()
    with engine().connect() as connection:
        return connection.execute(query("rag/live_version.sql")).first() is not None


def start_index_run(settings: Settings) -> str | None:
    """Which ``index_documents`` run builds an empty index (a manual run's id, or the scheduled run now due);
    None when none was needed."""
    from gyre.services.airflow_api import AirflowClient

    if index_is_live():
        return None
    client = AirflowClient(settings)
    client.wait_for_dag(INDEX_DAG, timeout_s=settings.startup_timeout_s)
    if any(run["state"] in UNDER_WAY for run in client.runs(INDEX_DAG)):
        return None
    client.unpause(INDEX_DAG)
    # Unpaused, a DAG whose latest scheduled slot has passed gets that run from the scheduler (catchup=False
    # still runs the latest slot): a manual run beside it would index the same folder twice.
    due = client.dag(INDEX_DAG)["next_dagrun_run_after"]
    if due is not None and datetime.fromisoformat(due) <= datetime.now(UTC):
        return f"scheduled run due {due}"
    return client.trigger(INDEX_DAG)


def start_in_background(settings: Settings, report: Callable[[str], None]) -> threading.Thread:
    """Run ``start_index_run`` off the start-up path; what happened (or why not) goes to ``report``."""

    def run() -> None:
        try:
            run_id = start_index_run(settings)
        except Exception as error:  # noqa: BLE001 - the stack runs without it; say why and how to do it by hand
            report(f"knowledge base: could not start {INDEX_DAG} ({error}); trigger it in the Airflow UI")
            return
        if run_id:
            report(f"knowledge base: no document index yet; {INDEX_DAG} builds it ({run_id})")

    thread = threading.Thread(target=run, name="first-index", daemon=True)
    thread.start()
    return thread
