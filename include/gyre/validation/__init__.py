"""The data contract as code: Great Expectations suites, per-row reasons, batch rules, Data Docs."""

from __future__ import annotations

from pathlib import Path

from gyre.config import Settings


def docs_dir(settings: Settings) -> Path:
    """Where the Data Docs site is written (``docs``) and served from (``web``)."""
    return settings.home / "data_docs"
