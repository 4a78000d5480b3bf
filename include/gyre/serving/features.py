"""The one place serving gets features: Feast's online store for the request's entities, plus request data.

``online_features`` asks Feast for the FeatureService that is the model's feature contract; Feast reads the
customer and merchant rows from Redis and computes the on-demand (request-time) features from the fields
passed with the entity rows, with the same code training used. An entity Feast has never seen comes back
as nulls: the row is scored on the model's defaults (its imputers) and flagged, never refused.

Until Feast is usable (no FeatureService applied yet), the model's inputs are read from the transaction
itself and no entity is looked up: ``FeatureRows.source`` says which happened, and /readyz says why.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gyre.config import Settings
from gyre.serving.schema import Transaction

log = logging.getLogger(__name__)

# Feast's FieldStatus: 1 PRESENT, 2 NOT_FOUND, 3 NULL_VALUE, 4 OUTSIDE_MAX_AGE.
_NOT_FOUND, _OUTSIDE_MAX_AGE = 2, 4
ENTITY_KEYS = ("customer_id", "merchant_id")


@dataclass(frozen=True)
class FeatureRows:
    """Per transaction: every value the model may take (by name), whether an entity was unknown, feature age."""

    rows: list[dict[str, Any]]
    unknown: list[bool]
    age_s: list[float | None]
    source: str


def request_data(transaction: Transaction) -> dict[str, Any]:
    """The request's own fields, as the on-demand feature view and the entity rows receive them."""
    return {
        "customer_id": transaction.customer_id,
        "merchant_id": transaction.merchant_id,
        "transaction_id": transaction.transaction_id,
        "event_timestamp": transaction.event_timestamp,
        "amount": float(transaction.amount),
        "channel": transaction.channel,
        "mcc": transaction.mcc,
        "merchant_country": transaction.merchant_country,
        "customer_country": transaction.customer_country,
        "card_age_days": float(transaction.card_age_days),
    }


def _from_request(transaction: Transaction) -> dict[str, Any]:
    """Without a feature repository: the transaction's fields and the request-time values derived from them."""
    row = request_data(transaction)
    row["hour_of_day"] = float(transaction.event_timestamp.astimezone(dt.UTC).hour)
    row["is_foreign"] = float(transaction.merchant_country != transaction.customer_country)
    return row


class OnlineFeatures:
    """Feast's FeatureStore and FeatureService (opened once), or the request's own fields until Feast is usable.

    Feast is usable once ``gyre.features`` is installed and the FeatureService has been applied to the registry
    (the ``build_features`` DAG does that); ``refresh`` tries again, so a service started before the first
    ``feast apply`` switches over by itself. ``error`` says why it is not used (shown by /readyz).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Any = None
        self.service: Any = None
        self.error: str | None = None
        self._tried = 0.0
        self.refresh()

    def refresh(self, every_s: float = 30.0) -> None:
        if self.store is not None or time.monotonic() - self._tried < every_s:
            return
        self._tried = time.monotonic()
        try:
            from gyre.features.online import feature_service
            from gyre.features.store import feature_store

            store = feature_store(self.settings)
            self.service = feature_service(store, self.settings)
            self.store, self.error = store, None
        except Exception as error:  # noqa: BLE001 - no feature repo yet: serve from the request, say why
            self.error = f"Feast not in use ({type(error).__name__}: {str(error).splitlines()[0][:200]})"

    @property
    def source(self) -> str:
        return f"feast:{self.settings.feature_service}" if self.store is not None else "request"

    def __call__(self, transactions: Sequence[Transaction]) -> FeatureRows:
        return online_features(transactions, self)


def _entity_row(data: dict[str, Any]) -> dict[str, Any]:
    """Entity keys and the RequestSource fields, typed as the feature repository declares them."""
    return {
        "customer_id": data["customer_id"],
        "merchant_id": data["merchant_id"],
        "amount": data["amount"],
        "merchant_country": data["merchant_country"],
        "customer_country": data["customer_country"],
        "channel": data["channel"],
        "mcc": int(data["mcc"]),
        "card_age_days": data["card_age_days"],
        "event_timestamp": data["event_timestamp"],
    }


def online_features(transactions: Sequence[Transaction], features: OnlineFeatures) -> FeatureRows:
    """Online features for a request: one Feast call for all its transactions (entity rows carry request data)."""
    if features.store is None:
        rows = [_from_request(t) for t in transactions]
        return FeatureRows(rows, [False] * len(rows), [None] * len(rows), features.source)
    data = [request_data(t) for t in transactions]
    response = features.store.get_online_features(
        features=features.service, entity_rows=[_entity_row(d) for d in data], full_feature_names=False
    )
    now = time.time()
    names = list(response.proto.metadata.feature_names.val)
    results = list(response.proto.results)
    values = response.to_dict()
    rows: list[dict[str, Any]] = []
    unknown: list[bool] = []
    ages: list[float | None] = []
    for i, base in enumerate(data):
        row = dict(base)
        row.update({name: values[name][i] for name in names if name not in ENTITY_KEYS})
        missing = False
        newest = 0
        for name, result in zip(names, results, strict=True):
            if name in ENTITY_KEYS:
                continue
            missing |= result.statuses[i] == _NOT_FOUND
            if result.statuses[i] != _NOT_FOUND and i < len(result.event_timestamps):
                newest = max(newest, result.event_timestamps[i].seconds)
        rows.append(row)
        unknown.append(missing)
        ages.append(round(now - newest, 3) if newest > 0 else None)
    return FeatureRows(rows, unknown, ages, features.source)
