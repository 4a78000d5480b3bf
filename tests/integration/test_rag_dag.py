"""The `index_documents` DAG with `dag.test()` against the real Postgres: two runs keep the index in step with
the folder (first build, evaluated and swapped; then a deleted and an added document synced in place, nothing
swapped), and a binary file among them is skipped with its reason in the task log. A new chunk setting built
beside the live version is covered in test_rag_index. Airflow's own metadata lives in a temporary SQLite
database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration import rag_support
from tests.integration.rag_support import count

pytestmark = pytest.mark.integration
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "index_documents.py"
DOCUMENTS = [
    "policies/chargeback-policy.md",
    "policies/escalation-policy.md",
    "runbooks/atm-cash-out.md",
    "glossary/merchant-category-codes.md",
    "runbooks/oncall-handover.txt",
]
GOLDEN = [
    {"question": "How many days to raise a Visa chargeback?", "documents": ["policies/chargeback-policy.md"]},
    {"question": "Who is paged for a SEV1 incident?", "documents": ["policies/escalation-policy.md"]},
    {"question": "What is merchant category code 5411?", "documents": ["glossary/merchant-category-codes.md"]},
]

_RUN = """
import datetime as dt, json, os, pathlib, runpy
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session

dag = runpy.run_path({dag_file!r})["dag"]
folder = pathlib.Path({folder!r})

def run(day):
    result = dag.test(logical_date=dt.datetime(2033, 1, day, tzinfo=dt.timezone.utc))
    with create_session() as session:
        states = {{ti.task_id: str(ti.state) for ti in session.query(TaskInstance).filter_by(run_id=result.run_id)}}
    print("RESULT", json.dumps({{"run": day, "state": str(result.state), "tasks": states}}), flush=True)

run(1)
(folder / "runbooks/atm-cash-out.md").unlink()
(folder / "runbooks/zebracorn.md").write_text("---\\ncategory: runbook\\n---\\n# Zebracorn drill\\n\\n"
    "The zebracorn drill is a quarterly exercise in which the fraud team rehearses a full card reissue.\\n")
run(2)
"""


def test_two_runs_keep_the_index_in_step_with_the_folder(database_url: str, tmp_path: Path) -> None:
    rag_support.reset_tables()
    folder = rag_support.copy_corpus(tmp_path / "docs", DOCUMENTS)
    (folder / "runbooks/scan.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # skipped, not fatal
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps(GOLDEN))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "GYRE_RAG_DOCS_DIR": str(folder),
        "GYRE_RAG_GOLDEN_SET": str(golden),
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    script = _RUN.format(dag_file=str(DAG_FILE), folder=str(folder))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [json.loads(x.removeprefix("RESULT ")) for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    assert len(runs) == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert all(r["state"].endswith("success") for r in runs), runs
    assert "skipped runbooks/scan.md (binary): NUL byte at offset 8" in result.stdout + result.stderr
    first, second = (r["tasks"] for r in runs)
    assert first["swap"].endswith("success") and first["reject"].endswith("skipped")
    assert second["swap"].endswith("skipped") and second["reject"].endswith("skipped")

    assert count("select count(*) from rag_index_versions") == 1
    live = count("select version_id from rag_index_versions where status = 'live'")
    sources = count("select array_agg(source order by source) from rag_documents where version_id = :v", v=live)
    assert "runbooks/atm-cash-out.md" not in sources and "runbooks/zebracorn.md" in sources and len(sources) == 5
    assert count("select count(*) from rag_chunks where version_id <> :v", v=live) == 0
    assert count("select recall_at_5 from rag_index_versions where version_id = :v", v=live) >= 0.8
