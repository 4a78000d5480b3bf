"""Gyre's own database: one pooled SQLAlchemy engine, and SQL kept as files under sql/.

Statements are loaded from ``sql/<stage>/<name>.sql`` and always run with bound parameters, so no value
is ever formatted into SQL text.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import sqlalchemy as sa

from gyre.config import get_settings
from gyre.services.endpoints import database_url

# Concurrent ``create ... if not exists`` collides in PostgreSQL's catalog (a duplicate ``pg_type`` key), and
# ``create index if not exists`` takes a share lock on its table that deadlocks with writers of a longer
# transaction: every schema change runs in its own short transaction under this advisory lock.
SCHEMA_LOCK = "select pg_advisory_xact_lock(hashtext('gyre:schema'))"


@functools.cache
def sql_text(name: str) -> str:
    """The text of ``sql/<name>`` (for example ``"monitoring/schema.sql"``)."""
    path = get_settings().project_root / "sql" / name
    return path.read_text(encoding="utf-8")


def query(name: str) -> sa.TextClause:
    """A file's single statement, ready for ``connection.execute(query(name), params)``."""
    return sa.text(sql_text(name))


@functools.cache
def engine() -> sa.Engine:
    """The pool; errors name the statement but not its parameters, which hold questions and people's data."""
    return sa.create_engine(database_url(), pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)


def apply_schema(names: Iterable[str], bind: sa.Engine | None = None) -> None:
    """Run DDL files (idempotent ``create ... if not exists`` statements) in one transaction, under SCHEMA_LOCK."""
    with (bind or engine()).begin() as connection:
        connection.exec_driver_sql(SCHEMA_LOCK)
        for name in names:
            connection.exec_driver_sql(sql_text(name))
