"""Seconds from `gyre up` to all-healthy (first and second start) and the stack's resident memory.

Side by side in the same run: the same stack with Airflow's default parallelism of 32 (what an
unconfigured LocalExecutor pre-forks) against Gyre's default, as a memory ratio.

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from gyre.services.process import free_port

GYRE = str(Path(sys.executable).parent / "gyre")
PORTS = ("POSTGRES", "REDIS", "MLFLOW", "AIRFLOW", "AIRFLOW_WORKER_LOG", "AIRFLOW_TRIGGER_LOG")
console = Console()


def stack_rss_mb(home: Path) -> tuple[float, int]:
    """Resident memory of every process in the stack's process groups (services fork workers)."""
    state = json.loads((home / "run" / "state.json").read_text())
    groups = {pid for record in state["services"] for pid in record["pids"]}
    total, count = 0, 0
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) in groups:
                total += proc.memory_info().rss
                count += 1
        except (psutil.Error, ProcessLookupError):
            continue
    return total / 2**20, count


def timed_up(env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run([GYRE, "up", "--detach"], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"gyre up failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="gyre-bench-"))
    env = {
        **os.environ,
        "GYRE_HOME": str(home),
        **{f"GYRE_{name}_PORT": str(free_port()) for name in PORTS},
    }
    rows = []
    try:
        with console.status("first start (initdb, migrations)…"):
            first = timed_up(env)
            time.sleep(5)  # let forked workers settle before reading memory
            rss, procs = stack_rss_mb(home)
        rows.append(("first start, parallelism 4", first, rss, procs))
        subprocess.run([GYRE, "down"], env=env, capture_output=True, check=True)
        with console.status("second start…"):
            second = timed_up(env)
            time.sleep(5)
            rss2, procs2 = stack_rss_mb(home)
        rows.append(("second start, parallelism 4", second, rss2, procs2))
        subprocess.run([GYRE, "down"], env=env, capture_output=True, check=True)
        with console.status("second start with Airflow's default parallelism (32)…"):
            default = timed_up({**env, "GYRE_AIRFLOW_PARALLELISM": "32"})
            time.sleep(5)
            rss32, procs32 = stack_rss_mb(home)
        rows.append(("second start, parallelism 32 (Airflow default)", default, rss32, procs32))
    finally:
        subprocess.run([GYRE, "down"], env=env, capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)

    table = Table(title="gyre up → all healthy")
    for column in ("run", "seconds", "resident MB", "processes"):
        table.add_column(column)
    for name, seconds, mb, count in rows:
        table.add_row(name, f"{seconds:.1f}", f"{mb:,.0f}", str(count))
    console.print(table)
    console.print(f"memory, Airflow default vs Gyre default: {rss32 / rss2:.2f}x")


if __name__ == "__main__":
    main()
