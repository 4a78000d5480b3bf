"""The `gyre` command starts at once (no heavy library loads for `--help`) and a missing input is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GYRE = str(Path(sys.executable).parent / "gyre")
HEAVY = ("pandas", "pydantic_settings", "redis", "psycopg", "great_expectations", "mlflow", "rich", "httpx")


def _gyre(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GYRE_HOME": str(home)}
    return subprocess.run([GYRE, *args], env=env, capture_output=True, text=True, check=False, timeout=120)


def test_help_loads_no_heavy_library() -> None:
    probe = f"import sys, gyre.cli; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_ingest_of_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = _gyre("data", "ingest", "--start", "2026-01-01", "--landing", str(missing), home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"Error: no landing folder {missing}; `gyre data generate` writes one, or pass --landing"
    ]
