"""What serving calls: the model's input features for transactions, from Redis through Feast.

``online_features(rows)`` takes the transactions as they arrive (entity keys plus the request fields the
on-demand view needs) and returns one row per transaction with exactly the FeatureService's feature columns,
in the order training used. Unknown customers or merchants give nulls (the model imputes them), never an error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from gyre.config import Settings, get_settings
from gyre.features.request import REQUEST_FIELDS
from gyre.features.store import feature_store

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

ENTITY_KEYS = ("customer_id", "merchant_id")
REQUIRED_FIELDS = (*ENTITY_KEYS, *REQUEST_FIELDS)


class MissingRequestFields(ValueError):
    """A transaction lacks a field the features need (serving answers 4xx with this message)."""


_SERVICE_TTL_S = 60.0  # as the registry cache (feature_store.yaml): a new service version shows within a minute
_services: dict[tuple[int, str], tuple[float, FeatureService]] = {}


def feature_service(store: FeatureStore | None = None, settings: Settings | None = None) -> FeatureService:
    """The FeatureService, kept for a minute: Feast rebuilds it from the registry's protobuf on every lookup
    (tens of milliseconds, more than the Redis read itself)."""
    settings = settings or get_settings()
    store = store or feature_store(settings)
    key = (id(store), settings.feature_service)
    cached = _services.get(key)
    if cached and time.monotonic() - cached[0] < _SERVICE_TTL_S:
        return cached[1]
    service = store.get_feature_service(settings.feature_service, allow_cache=True)
    _services[key] = (time.monotonic(), service)
    return service


def feature_names(service: FeatureService) -> list[str]:
    """The service's output columns, in the order training builds them (gyre.training.dataset)."""
    return [f.name for projection in service.feature_view_projections for f in projection.features]


def _entity_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for index, row in enumerate(rows):
        missing = [name for name in REQUIRED_FIELDS if name not in row]
        if missing:
            raise MissingRequestFields(f"transaction {index} lacks {', '.join(missing)}")
        entity = {name: row[name] for name in REQUIRED_FIELDS}
        at = pd.Timestamp(entity["event_timestamp"])
        entity["event_timestamp"] = (
            at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
        ).to_pydatetime()
        entity["amount"] = float(entity["amount"])
        entity["card_age_days"] = None if entity["card_age_days"] is None else float(entity["card_age_days"])
        entity["mcc"] = int(entity["mcc"])
        entity["customer_id"], entity["merchant_id"] = str(entity["customer_id"]), str(entity["merchant_id"])
        out.append(entity)
    return out


def online_features(
    rows: Sequence[Mapping[str, Any]], store: FeatureStore | None = None, settings: Settings | None = None
) -> pd.DataFrame:
    """Feature frame (one row per transaction, FeatureService columns) for ``rows``.

    Each row needs ``customer_id``, ``merchant_id``, ``amount``, ``merchant_country``, ``customer_country``,
    ``channel``, ``mcc``, ``card_age_days`` (may be None) and ``event_timestamp`` (tz-aware, or UTC when naive).
    """
    store = store or feature_store(settings)
    service = feature_service(store, settings)
    names = feature_names(service)
    if not rows:
        return pd.DataFrame(columns=names)
    response = store.get_online_features(features=service, entity_rows=_entity_rows(rows))
    frame = pd.DataFrame(response.to_dict())
    return frame[names]
