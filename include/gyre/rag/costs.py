"""What a model call costs, from a price table that counts prompt-cache writes and reads, and the
daily budget that switches answers to extractive once the day's spend reaches it.

Prices are US dollars per million tokens. A cache write costs 1.25x the input price (5-minute cache), a
cache read 0.1x. A model not in the table is priced as the most expensive one, so the budget errs safe.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gyre.db import engine, query
from gyre.rag.schema import ensure_schema

# model id prefix -> (input, output) USD per million tokens
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
}
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.10


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def from_api(cls, usage: Any) -> Usage:
        return cls(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
            cache_write_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
        )

    def as_details(self) -> dict[str, int]:
        """Langfuse ``usage_details``: uncached input, output and the two cache counts."""
        return {
            "input": self.input_tokens,
            "output": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
            "cache_creation_input_tokens": self.cache_write_tokens,
        }


def price(model: str) -> tuple[tuple[float, float], bool]:
    """(input, output) prices for ``model`` and whether the table knew it (longest matching prefix)."""
    for prefix in sorted(PRICES, key=len, reverse=True):
        if model.startswith(prefix):
            return PRICES[prefix], True
    return max(PRICES.values(), key=lambda p: p[1]), False


def cost(model: str, usage: Usage, prices: tuple[float, float] | None = None) -> dict[str, float]:
    """Langfuse ``cost_details`` in USD: per kind of token, and ``total``; ``prices`` (input, output per million
    tokens) stand in for the table's, for a model the table cannot know (a self-hosted one)."""
    input_price, output_price = prices or price(model)[0]
    per_token = 1e-6
    details = {
        "input": usage.input_tokens * input_price * per_token,
        "output": usage.output_tokens * output_price * per_token,
        "cache_read_input_tokens": usage.cache_read_tokens * input_price * CACHE_READ_FACTOR * per_token,
        "cache_creation_input_tokens": usage.cache_write_tokens * input_price * CACHE_WRITE_FACTOR * per_token,
    }
    details["total"] = sum(details.values())
    return {key: round(value, 8) for key, value in details.items()}


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def spent(day: dt.date | None = None) -> float:
    """USD spent on generation on ``day`` (UTC)."""
    ensure_schema()
    with engine().connect() as connection:
        value = connection.execute(query("rag/spent_on.sql"), {"day": day or today()}).scalar_one()
    return float(value)


def record(usage: Usage, cost_usd: float, day: dt.date | None = None) -> None:
    ensure_schema()
    with engine().begin() as connection:
        connection.execute(
            query("rag/add_usage.sql"),
            {
                "day": day or today(),
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "cost_usd": Decimal(str(round(cost_usd, 6))),
            },
        )
