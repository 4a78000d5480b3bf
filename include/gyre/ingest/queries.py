"""The ingest SQL, read from ``sql/ingest``: named statements with identifiers composed by psycopg.sql."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from psycopg import sql

from gyre.config import get_settings
from gyre.validation.contract import Feed

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_WITH_SOURCE = ("copy_table", "copy_stage")  # COPYs of valid rows: the contract's columns, then where each came from


def _sql_dir() -> Path:
    return get_settings().project_root / "sql" / "ingest"


def schema() -> str:
    return (_sql_dir() / "schema.sql").read_text()


@functools.cache
def _statements() -> dict[str, str]:
    text = (_sql_dir() / "load.sql").read_text()
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def statement(name: str, feed: Feed) -> sql.Composed:
    """Statement ``name`` with the feed's table, stage, key, time column and column list filled in."""
    columns = [*feed.columns, "source_file", "line_number"] if name in _WITH_SOURCE else list(feed.columns)
    return sql.SQL(_statements()[name]).format(
        table=sql.Identifier(feed.name),
        stage=sql.Identifier(f"stage_{feed.name}"),
        key=sql.Identifier(feed.key),
        time=sql.Identifier(feed.time_column),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
    )
