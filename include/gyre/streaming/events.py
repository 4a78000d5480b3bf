"""Events on the stream: a transaction as flat string fields, validated by the endpoint's own contract.

The field rules are ``gyre.serving.schema.Transaction``'s (imported, not repeated): an event the scoring
endpoint would refuse with a 422 is refused here too, and goes to the dead-letter stream with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from gyre.serving.schema import Transaction
from gyre.streaming.aggregate import Event

FIELDS = tuple(Transaction.model_fields)


def to_fields(row: Mapping[str, Any]) -> dict[str, str]:
    """A transaction (a table row, a generated row) as stream fields; timestamps in ISO 8601 with offset."""
    out = {}
    for name in FIELDS:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
        out[name] = str(value)
    return out


def parse(fields: Mapping[str, str]) -> tuple[Transaction | None, str | None]:
    """The validated transaction, or ``None`` and why not (one line per bad field)."""
    try:
        return Transaction.model_validate(dict(fields)), None
    except ValidationError as error:
        reasons = []
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "event"
            reasons.append(f"{where}: {problem['msg']}")
        return None, "; ".join(reasons)


def event(transaction: Transaction) -> Event:
    return Event(
        transaction.transaction_id,
        transaction.customer_id,
        transaction.merchant_id,
        transaction.event_timestamp.astimezone(dt.UTC),
        float(transaction.amount),
    )
