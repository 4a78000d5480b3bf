"""Every DAG file imports cleanly, follows the project's conventions, and parses fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
PARSE_BUDGET_S = 1.0


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_there_are_dags_to_check(dag_bag) -> None:
    assert DAG_FILES, "dags/ holds no DAG files"
    assert dag_bag.dags, "no DAG was found in dags/"


def test_every_dag_file_imports_without_errors(dag_bag) -> None:
    assert dag_bag.import_errors == {}


def test_every_dag_follows_the_conventions(dag_bag) -> None:
    problems = []
    for dag_id, dag in dag_bag.dags.items():
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        if not dag.doc_md:
            problems.append(f"{dag_id}: no doc_md")
        if dag.start_date is None or dag.start_date.tzinfo is None:
            problems.append(f"{dag_id}: start_date must be static and tz-aware")
        for task in dag.tasks:
            if task.owner in (None, "", "airflow"):
                problems.append(f"{dag_id}.{task.task_id}: owner must be set (got {task.owner!r})")
            if task.retries < 2:
                problems.append(f"{dag_id}.{task.task_id}: retries {task.retries} < 2")
    assert problems == []


def test_no_task_takes_an_upstream_value_under_a_context_name(dag_bag) -> None:
    """An argument named like a context variable (``run_id``, ``ds``...) fails the task at run time, not at parse."""
    import inspect

    from airflow.sdk.definitions.context import KNOWN_CONTEXT_KEYS

    clashes = []
    for dag_id, dag in dag_bag.dags.items():
        for task in dag.tasks:
            callable_ = getattr(task, "python_callable", None)
            if callable_ is None:
                continue
            positional = list(inspect.signature(callable_).parameters)[: len(getattr(task, "op_args", ()))]
            names = {*positional, *getattr(task, "op_kwargs", {})}
            clashes += [f"{dag_id}.{task.task_id}({name})" for name in sorted(names & set(KNOWN_CONTEXT_KEYS))]
    assert clashes == []


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_in_under_a_second(dag_file: Path) -> None:
    """Measured in a fresh interpreter, after Airflow's own import: the file's cost alone."""
    probe = (
        "import time, runpy, airflow.sdk\n"
        "start = time.perf_counter()\n"
        f"runpy.run_path({str(dag_file)!r}, run_name='dag_parse_probe')\n"
        "print(time.perf_counter() - start)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    seconds = float(result.stdout.strip().splitlines()[-1])
    assert seconds < PARSE_BUDGET_S, f"{dag_file.name} took {seconds:.2f} s to parse"
