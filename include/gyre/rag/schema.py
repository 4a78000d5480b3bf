"""The rag_* tables, created once per process (DDL under the schema lock costs a round trip per statement)."""

from __future__ import annotations

import functools

from gyre.db import apply_schema

SCHEMA = ("rag/schema.sql",)


@functools.cache
def ensure_schema() -> None:
    apply_schema(SCHEMA)
