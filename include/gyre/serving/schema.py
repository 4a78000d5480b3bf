"""The endpoint's contract: what a transaction to score looks like and what comes back.

Field limits live here (not in handlers) so that invalid bodies are refused with a 422 naming the field,
before any model or feature code runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2")]


EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    """Naive timestamps are read as UTC (the transaction feed is UTC); the year must be one features exist for."""
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"event_timestamp must fall between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


class Transaction(BaseModel):
    """One card transaction as the acquirer sends it (the same fields as the ingest contract)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    transaction_id: Identifier
    customer_id: Identifier
    merchant_id: Identifier
    event_timestamp: Annotated[dt.datetime, AfterValidator(_aware)]
    amount: float = Field(ge=0.01, le=1_000_000, allow_inf_nan=False, description="at least one cent")
    channel: Annotated[str, Field(pattern=r"^[a-z0-9_\-]{1,16}$", description="for example pos or ecom")]
    mcc: Annotated[str, Field(pattern=r"^[0-9]{4}$", description="merchant category code")]
    merchant_country: Country
    customer_country: Country
    card_age_days: int = Field(ge=0, le=36_500)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None


class ScoreResult(BaseModel):
    """The verdict for one transaction, with what it is traceable by."""

    request_id: str = Field(description="id of this scoring; the prediction log's key")
    transaction_id: str
    score: float = Field(description="calibrated fraud probability")
    decision: bool = Field(description="true = decline / review: score at or above the model's threshold")
    threshold: float
    model_name: str
    model_version: str
    unknown_entity: bool = Field(description="customer or merchant had no online features: scored on defaults")
    feature_age_s: float | None = Field(description="age of the freshest online feature row used; null if none")


class ErrorBody(BaseModel):
    """Every refusal of the endpoint: what is wrong, and for an invalid body which fields."""

    error: str
    detail: list[dict[str, str]] | None = None


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transaction: Transaction


def batch_request(max_batch: int) -> type[BaseModel]:
    """The /score_batch body, with the configured batch limit."""

    class ScoreBatchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        transactions: list[Transaction] = Field(min_length=1, max_length=max_batch)

    return ScoreBatchRequest
