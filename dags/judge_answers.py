"""
### Judge the knowledge base's answers of the day that just ended

Every night at 00:45 UTC, for the day `data_interval_start`..`end`: a sample of that day's answers
(`GYRE_RAG_JUDGE_SAMPLE`, the same sample on a re-run) is scored for faithfulness to the passages each cites
and for relevance to its question, from 0 to 1. With a model configured (`GYRE_LLM_PROVIDER` and its key or
endpoint) an LLM judge scores them; without one, an offline embedding-overlap proxy does, labelled as such in
every stored row (`method`). The day's scores replace any earlier run's in `rag_answer_scores` and
`rag_answer_quality`, go onto the answers' Langfuse traces when tracing is on, and a day whose mean falls
below `GYRE_RAG_JUDGE_MIN_FAITHFULNESS` or `GYRE_RAG_JUDGE_MIN_RELEVANCE` notifies. A day without answers
is recorded with zero scored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import CronTriggerTimetable, dag, task

from gyre.dag_defaults import default_args


@dag(
    schedule=CronTriggerTimetable("45 0 * * *", timezone="UTC", interval=dt.timedelta(days=1)),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["gyre", "rag", "monitoring"],
    default_args=default_args(),
    doc_md=__doc__,
)
def judge_answers() -> None:
    @task
    def judge(data_interval_start: dt.datetime | None = None) -> dict[str, Any]:
        from gyre.rag.judge import judge_day

        return judge_day(data_interval_start.date()).as_dict()

    judge()


dag = judge_answers()

if __name__ == "__main__":
    dag.test()
