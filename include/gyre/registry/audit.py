"""The audit of alias moves: when, which versions, the metrics behind it and the reason, in Postgres."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from gyre.db import apply_schema, engine, query

SCHEMA = ("registry/schema.sql",)


@dataclass(frozen=True)
class Move:
    id: int
    moved_at: datetime
    action: str
    alias: str | None
    from_version: str | None
    to_version: str | None
    metrics: dict[str, object]
    reason: str


def record(
    model_name: str,
    action: str,
    reason: str,
    alias: str | None = None,
    from_version: str | None = None,
    to_version: str | None = None,
    metrics: dict[str, object] | None = None,
) -> int:
    """Write one audit row; returns its id."""
    apply_schema(SCHEMA)
    params = {
        "model_name": model_name,
        "action": action,
        "alias": alias,
        "from_version": from_version,
        "to_version": to_version,
        "metrics": json.dumps(metrics or {}, default=float),
        "reason": reason,
    }
    with engine().begin() as connection:
        return int(connection.execute(query("registry/record_move.sql"), params).one().id)


def history(model_name: str, limit: int = 50) -> list[Move]:
    """Newest first."""
    apply_schema(SCHEMA)
    with engine().connect() as connection:
        rows = connection.execute(query("registry/history.sql"), {"model_name": model_name, "limit": limit})
        return [Move(**row._mapping) for row in rows]
