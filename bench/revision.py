"""The code of another git revision, for the benches that measure it beside this one (``--before REF``)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def unpack(ref: str, into: Path) -> Path:
    """The package, SQL and feature repository of git revision ``ref``, extracted into ``into``: the folder
    returned goes first on a child process's ``PYTHONPATH``."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "archive", ref, "include", "sql", "feature_repo"], cwd=root, capture_output=True, check=True
    )
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "include"
