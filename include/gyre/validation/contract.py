"""The data contract of each landing feed: its columns, their kinds, its key and its time column.

The contract is plain data so that the reader, the Great Expectations suite, the staging SQL and the
generator agree on one definition; a second use case adds a ``Feed`` here, not a fork of the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["str", "float", "int", "timestamp"]


@dataclass(frozen=True)
class Feed:
    """One landing feed: file prefix, table, key, time column (its day is the file's day) and columns."""

    name: str
    columns: dict[str, Kind]
    key: str
    time_column: str
    optional: frozenset[str] = field(default_factory=frozenset)

    @property
    def required(self) -> list[str]:
        return [c for c in self.columns if c not in self.optional]


CURRENCIES = ("EUR", "USD", "GBP", "PLN", "SEK", "CHF")
CHANNELS = ("pos", "ecom")
CHARGEBACK_REASONS = ("10.4", "10.5", "13.1", "4837", "4863")

TRANSACTIONS = Feed(
    name="transactions",
    columns={
        "transaction_id": "str",
        "event_timestamp": "timestamp",
        "customer_id": "str",
        "merchant_id": "str",
        "mcc": "int",
        "merchant_country": "str",
        "customer_country": "str",
        "channel": "str",
        "card_age_days": "int",
        "amount": "float",
        "currency": "str",
    },
    key="transaction_id",
    time_column="event_timestamp",
    optional=frozenset({"card_age_days"}),
)

LABELS = Feed(
    name="labels",
    columns={"transaction_id": "str", "reported_at": "timestamp", "reason_code": "str"},
    key="transaction_id",
    time_column="reported_at",
)

FEEDS: dict[str, Feed] = {feed.name: feed for feed in (TRANSACTIONS, LABELS)}
