"""
### Keep the document index in step with the knowledge-base folder

Runs daily at 02:00 UTC and on demand (trigger it after adding documents). Three steps:

1. `sync`: compare the folder (`GYRE_RAG_DOCS_DIR`, default `docs_corpus/`) with the index by content hash;
   new and changed documents are chunked (Markdown and HTML at headings) and embedded with all-MiniLM-L6-v2
   (offline), deleted ones are removed with their chunks, all in one transaction at the end: a failed sync
   leaves the index as it was, and its retry resumes from the batches already staged. Files that cannot be
   indexed (over `GYRE_RAG_MAX_FILE_BYTES`, empty, binary, not UTF-8, or a copy of another file) are skipped
   with their reason in this task's log and in `rag_skipped_documents`. With unchanged embedding and chunk
   settings the live index version is updated in place; a new model or chunk setting fills a new version
   beside the live one.
2. `evaluate`: recall@5 and MRR on the golden set (`GYRE_RAG_GOLDEN_SET`, default `golden_set.json` in the
   folder), for the synced version and the live one, and the gate's verdict. A folder without a golden set
   is not scored: its first version goes live marked "no golden set"; a later one waits for a golden set.
3. `gate` (branch) -> `swap` (the new version goes live in one transaction) or `reject` (the live version
   stays); nothing to swap when the live version was synced in place.

Re-running changes nothing when the folder has not changed; a version already live is not swapped again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, dag, task

from gyre.dag_defaults import default_args

DOCUMENT_INDEX = Asset("document_index")


@dag(
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["gyre", "rag", "documents"],
    default_args=default_args(),
    doc_md=__doc__,
)
def index_documents() -> None:
    # Embedding is background work: at a lower CPU priority (os.nice) it leaves the scheduler's heartbeats and
    # the endpoint their share of a small machine (the first start builds the index while the stack settles).
    @task
    def sync() -> dict[str, Any]:
        import os

        from gyre.rag.indexer import sync as sync_folder

        os.nice(10)
        return sync_folder().as_dict()

    @task
    def evaluate(report: dict[str, Any]) -> dict[str, Any]:
        import os

        from gyre.rag.indexer import evaluate_version

        os.nice(10)
        candidate, live, decision = evaluate_version(report["version_id"])
        return {
            "version_id": report["version_id"],
            "kind": report["kind"],
            "candidate": candidate.as_dict(),
            "live": live.as_dict() if live else None,
            "passed": decision.passed,
            "reasons": decision.reasons,
        }

    @task.branch
    def gate(evaluation: dict[str, Any]) -> list[str]:
        if evaluation["kind"] != "build":
            return []
        return ["swap"] if evaluation["passed"] else ["reject"]

    @task(outlets=[DOCUMENT_INDEX])
    def swap(evaluation: dict[str, Any], outlet_events=None) -> dict[str, Any]:  # noqa: ANN001
        from airflow.sdk.exceptions import AirflowFailException

        from gyre.rag.evaluation import GateDecision
        from gyre.rag.indexer import swap as make_live

        result = make_live(evaluation["version_id"], GateDecision(True, []))
        if not result.swapped and result.reasons != ["already live"]:
            raise AirflowFailException(f"version {evaluation['version_id']} was not swapped: {result.reasons}")
        outlet_events[DOCUMENT_INDEX].extra = {"version_id": evaluation["version_id"], **evaluation["candidate"]}
        return {"version_id": result.version_id, "previous_live": result.previous_live}

    @task
    def reject(evaluation: dict[str, Any]) -> None:
        from gyre.rag.evaluation import GateDecision
        from gyre.rag.indexer import swap as make_live

        make_live(evaluation["version_id"], GateDecision(False, evaluation["reasons"]))

    evaluation = evaluate(sync())
    gate(evaluation) >> [swap(evaluation), reject(evaluation)]


dag = index_documents()

if __name__ == "__main__":
    dag.test()
