"""The one place serving gets features: Feast's online store for the request's entities, plus request data.

The FeatureService that is the model's feature contract says which feature views to read; the read plan built
from it (once, and again when the registry changes) asks Redis for every entity of a request in one pipelined
round trip, with Feast's own key encoding and value protos, exactly what Feast's ``get_online_features`` reads.
The request-time features are the on-demand view's code (``gyre.features.request.request_columns``, named by
the view's ``columns`` tag) run on plain columns: Feast's SDK would run it through pyarrow and pandas, which
costs 20-40 times the Redis read for one transaction (see bench/serve.py). ``sdk_features`` is Feast's own
path, used for an on-demand view without a columnar implementation and by the parity test.

The read has a short timeout (``GYRE_SERVING_FEATURE_TIMEOUT_S``): while Redis does not answer, scoring
answers 503 with the reason instead of hanging. An entity Feast has never seen (Redis holds no row for it) is
scored on the model's defaults (its imputers) and flagged ``unknown``, never refused.

Until Feast is usable (no FeatureService applied yet), the model's inputs are read from the transaction
itself and no entity is looked up: ``FeatureRows.source`` says which happened, and /readyz says why.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gyre.config import Settings
from gyre.serving.schema import Transaction

log = logging.getLogger(__name__)

ENTITY_KEYS = ("customer_id", "merchant_id")
COLUMNS_TAG = "columns"  # an on-demand view's tag naming its columnar implementation, "module:function"
Columns = Callable[[dict[str, list[Any]]], dict[str, Any]]


class FeaturesUnavailable(RuntimeError):
    """The online store did not answer in time (or at all): the request gets a 503 with this message."""


@dataclass(frozen=True)
class HeldRow:
    """One entity's features a caller already holds for a transaction, read instead of the online store's: the
    stream consumer scores a batch at once, and an entity's state left by the batch's earlier events is not in
    Redis yet. ``at_s`` is when the values became available (epoch seconds), as the row's Feast timestamp."""

    values: Mapping[str, Any]
    at_s: float


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


@dataclass(frozen=True)
class _View:
    """One feature view to read: its online name, the entity's join key and type, the features and their hashes."""

    name: str
    join_key: str
    key_type: Any
    features: tuple[str, ...]
    fields: tuple[bytes | str, ...]  # Feast's murmur3 hash per feature, then the view's timestamp field


@dataclass(frozen=True)
class _Entity:
    """The views of one entity: Feast's Redis store keeps all of an entity's views in one hash, so one HMGET of
    every view's fields reads them all."""

    join_key: str
    key_type: Any
    views: tuple[_View, ...]
    fields: tuple[bytes | str, ...]


class ReadPlan:
    """What a FeatureService needs from Redis and how to finish it, built from Feast's registry objects.

    One HMGET per distinct entity of a request (a batch naming one merchant 40 times reads it once)."""

    def __init__(self, store: Any, service: Any) -> None:
        from feast.infra.online_stores.helpers import _mmh3
        from feast.infra.online_stores.redis import _versioned_fv_name

        config = store.config
        self.project = config.project
        self.key_version = config.entity_key_serialization_version
        wanted: dict[str, set[str]] = {}
        self.outputs: list[str] = []
        self.on_demand: list[tuple[Columns, tuple[str, ...]]] = []
        for projection in service.feature_view_projections:
            names = [f.name for f in projection.features]
            self.outputs += names
            try:
                view = store.get_on_demand_feature_view(projection.name)
            except Exception:  # noqa: BLE001 - not an on-demand view: a plain feature view read from Redis
                wanted.setdefault(projection.name, set()).update(names)
                continue
            implementation = view.tags.get(COLUMNS_TAG)
            if not implementation:
                raise LookupError(f"on-demand view {view.name!r} has no {COLUMNS_TAG!r} tag")
            module, _, function = implementation.partition(":")
            self.on_demand.append((getattr(importlib.import_module(module), function), tuple(names)))
            for source in view.source_feature_view_projections.values():
                wanted.setdefault(source.name, set()).update(f.name for f in source.features)
        self.views: list[_View] = []
        for name, features in wanted.items():
            view = store.get_feature_view(name)
            (join_key,) = view.join_keys
            (entity_column,) = [c for c in view.entity_columns if c.name == join_key]
            online_name = _versioned_fv_name(view, config)
            ordered = tuple(f.name for f in view.features if f.name in features)
            fields = tuple(_mmh3(f"{online_name}:{f}") for f in ordered) + (f"_ts:{online_name}",)
            self.views.append(_View(online_name, join_key, entity_column.dtype.to_value_type(), ordered, fields))
        grouped: dict[tuple[str, Any], list[_View]] = {}
        for view in self.views:
            grouped.setdefault((view.join_key, view.key_type), []).append(view)
        self.entities = [
            _Entity(join_key, key_type, tuple(views), tuple(f for view in views for f in view.fields))
            for (join_key, key_type), views in grouped.items()
        ]

    def commands(self, data: Sequence[dict[str, Any]]) -> list[tuple[bytes, tuple[bytes | str, ...]]]:
        """One HMGET per distinct entity of the request, keyed as Feast's Redis store keys its rows."""
        return [
            (self._key(entity, value), entity.fields) for entity in self.entities for value in _distinct(entity, data)
        ]

    @functools.lru_cache(maxsize=65_536)  # noqa: B019 - one plan per registry state; keys are small
    def _key(self, entity: _Entity, value: Any) -> bytes:
        from feast.infra.online_stores.helpers import _redis_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.type_map import python_values_to_proto_values

        (proto,) = python_values_to_proto_values([value], entity.key_type)
        return _redis_key(self.project, EntityKey(join_keys=[entity.join_key], entity_values=[proto]), self.key_version)

    def _replies(
        self, data: Sequence[dict[str, Any]], replies: Sequence[Sequence[bytes | None]]
    ) -> list[tuple[_View, list[Sequence[bytes | None]]]]:
        """Each view, with its part of each transaction's entity reply."""
        replies_of = iter(replies)
        out = []
        for entity in self.entities:
            by_value = {value: next(replies_of) for value in _distinct(entity, data)}
            start = 0
            for view in entity.views:
                end = start + len(view.fields)
                out.append((view, [by_value[row[entity.join_key]][start:end] for row in data]))
                start = end
        return out

    def rows(
        self,
        data: Sequence[dict[str, Any]],
        replies: Sequence[Sequence[bytes | None]],
        source: str,
        held: Sequence[Sequence[HeldRow]] | None = None,
    ) -> FeatureRows:
        """Decode the replies (Feast's value protos), or take a view's values from ``held`` where it holds them
        for the transaction, then run the on-demand views on the columns."""
        from feast.protos.feast.types.Value_pb2 import Value
        from google.protobuf.timestamp_pb2 import Timestamp

        now = time.time()
        at, value = Timestamp(), Value()  # reused: ParseFromString clears a message before it parses
        rows = [dict(row) for row in data]
        unknown = [False] * len(data)
        newest = [0.0] * len(data)
        for view, replied in self._replies(data, replies):
            for i in range(len(data)):
                *values, stamp = replied[i]
                own = _holding(view, held[i]) if held else None
                if own is not None:
                    rows[i].update((name, own.values[name]) for name in view.features)
                    newest[i] = max(newest[i], own.at_s)
                    continue
                if stamp is None:  # no row for this entity: Feast would answer nulls (and epoch timestamps)
                    unknown[i] = True
                    rows[i].update(dict.fromkeys(view.features))
                    continue
                at.ParseFromString(stamp)
                newest[i] = max(newest[i], at.seconds + at.nanos / 1e9)
                for name, raw in zip(view.features, values, strict=True):
                    rows[i][name] = _python_value(raw, value)
        # The on-demand views read the stored features and the request (not one another's outputs): one set of
        # columns serves them all.
        inputs = {name: [row.get(name) for row in rows] for name in rows[0]} if rows and self.on_demand else {}
        for columns, names in self.on_demand:
            computed = columns(inputs)
            for name in names:
                column = computed[name]
                plain = column.tolist() if hasattr(column, "tolist") else column  # NumPy values as Python ones
                for row, item in zip(rows, plain, strict=True):
                    row[name] = item
        ages = [round(now - t, 3) if t > 0 else None for t in newest]
        return FeatureRows(rows, unknown, ages, source)


def _distinct(entity: _Entity, data: Sequence[dict[str, Any]]) -> list[Any]:
    """The entity's keys in a request, each once, in first-seen order: the order its HMGETs are sent and answered."""
    return list(dict.fromkeys(row[entity.join_key] for row in data))


def _holding(view: _View, held: Sequence[HeldRow]) -> HeldRow | None:
    """The held row of ``view``'s entity, if any (a held row holds all of its entity's view)."""
    return next((row for row in held if view.features[0] in row.values), None)


_SCALARS = frozenset(("int32_val", "int64_val", "double_val", "float_val", "string_val", "bool_val"))


def _python_value(raw: bytes | None, value: Any) -> Any:
    """A stored Feast value as Python (``value`` an empty ``Value`` proto, built by the caller: the import per
    value cost more than the decode): scalars read directly, anything else through Feast's own converter."""
    if not raw:
        return None
    value.ParseFromString(raw)
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    if kind in _SCALARS:
        return getattr(value, kind)
    from feast.type_map import feast_value_type_to_python_type

    return feast_value_type_to_python_type(value)


class OnlineFeatures:
    """Feast's FeatureStore, FeatureService and read plan (built once), or the request's own fields until Feast
    is usable.

    Feast is usable once ``gyre.features`` is installed and the FeatureService has been applied to the registry
    (the ``build_features`` DAG does that); ``refresh`` tries again, so a service started before the first
    ``feast apply`` switches over by itself. ``error`` says why it is not used (shown by /readyz).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Any = None
        self.service: Any = None
        self.plan: ReadPlan | None = None
        self.error: str | None = None
        self._tried = 0.0
        self._redis: Any = None
        self._async_redis: Any = None
        self.refresh()

    def refresh(self, every_s: float = 30.0) -> None:
        if self.store is not None or time.monotonic() - self._tried < every_s:
            return
        self._tried = time.monotonic()
        try:
            from gyre.features.online import feature_service
            from gyre.features.store import feature_store

            store = feature_store(self.settings)
            service = feature_service(store, self.settings)
            try:
                self.plan = ReadPlan(store, service)
            except LookupError as why:
                log.warning("online features through Feast's SDK (slower): %s", why)
                self.plan = None
            self.store, self.service, self.error = store, service, None
        except Exception as error:  # noqa: BLE001 - no feature repo yet: serve from the request, say why
            self.error = f"Feast not in use ({type(error).__name__}: {str(error).splitlines()[0][:200]})"

    @property
    def source(self) -> str:
        return f"feast:{self.settings.feature_service}" if self.store is not None else "request"

    def _clients(self) -> tuple[Any, Any]:
        if self._redis is None:
            import redis
            import redis.asyncio as aioredis

            from gyre.services.endpoints import redis_url

            url, timeout = redis_url(self.settings), self.settings.serving_feature_timeout_s
            options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry_on_timeout": False}
            self._redis = redis.Redis.from_url(url, **options)
            self._async_redis = aioredis.from_url(url, **options)
        return self._redis, self._async_redis

    def _unavailable(self, error: Exception) -> FeaturesUnavailable:
        return FeaturesUnavailable(f"the online feature store does not answer ({type(error).__name__})")

    def __call__(
        self, transactions: Sequence[Transaction], held: Sequence[Sequence[HeldRow]] | None = None
    ) -> FeatureRows:
        """Features for a request, blocking (at most the read timeout); ``held``: values to use instead of the
        online store's, per transaction (see ``HeldRow``)."""
        if self.store is None or self.plan is None:
            if held is not None and any(held):
                raise LookupError("held feature values need the read plan (an on-demand view has no columns tag)")
            return self._without_plan(transactions)
        data = [request_data(t) for t in transactions]
        client, _ = self._clients()
        try:
            with client.pipeline(transaction=False) as pipe:
                for key, fields in self.plan.commands(data):
                    pipe.hmget(key, fields)
                replies = pipe.execute()
        except Exception as error:  # noqa: BLE001 - any Redis failure: the online store is unavailable
            raise self._unavailable(error) from error
        return self.plan.rows(data, replies, self.source, held)

    async def read(self, transactions: Sequence[Transaction]) -> FeatureRows:
        """The same features without blocking the event loop: the Redis round trip is awaited."""
        if self.store is None or self.plan is None:
            import anyio

            return await anyio.to_thread.run_sync(self._without_plan, transactions)
        data = [request_data(t) for t in transactions]
        _, client = self._clients()
        try:
            async with client.pipeline(transaction=False) as pipe:
                for key, fields in self.plan.commands(data):
                    pipe.hmget(key, fields)
                replies = await pipe.execute()
        except Exception as error:  # noqa: BLE001 - any Redis failure: the online store is unavailable
            raise self._unavailable(error) from error
        return self.plan.rows(data, replies, self.source)

    def _without_plan(self, transactions: Sequence[Transaction]) -> FeatureRows:
        if self.store is None:
            rows = [_from_request(t) for t in transactions]
            return FeatureRows(rows, [False] * len(rows), [None] * len(rows), self.source)
        try:
            return sdk_features(transactions, self)
        except Exception as error:  # noqa: BLE001 - any Redis failure: the online store is unavailable
            raise self._unavailable(error) from error


def sdk_features(transactions: Sequence[Transaction], features: OnlineFeatures) -> FeatureRows:
    """Feast's own ``get_online_features`` for a request: the reference the read plan must equal."""
    data = [request_data(t) for t in transactions]
    response = features.store.get_online_features(
        features=features.service, entity_rows=[_entity_row(d) for d in data], full_feature_names=False
    )
    now = time.time()
    names = list(response.proto.metadata.feature_names.val)
    results = list(response.proto.results)
    values = response.to_dict()
    stored = {f.name for view in features.store.list_feature_views() for f in view.features}
    rows: list[dict[str, Any]] = []
    unknown: list[bool] = []
    ages: list[float | None] = []
    for i, base in enumerate(data):
        row = dict(base)
        row.update({name: values[name][i] for name in names if name not in ENTITY_KEYS})
        newest, missing = 0, False
        for name, result in zip(names, results, strict=True):
            if name not in stored or i >= len(result.event_timestamps):
                continue
            # This Feast answers PRESENT with nulls and an epoch timestamp for an entity Redis never held.
            seconds = result.event_timestamps[i].seconds
            missing |= seconds == 0
            newest = max(newest, seconds)
        rows.append(row)
        unknown.append(missing)
        ages.append(round(now - newest, 3) if newest > 0 else None)
    return FeatureRows(rows, unknown, ages, features.source)
