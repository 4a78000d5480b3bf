"""Where the aggregates go: the online store, through Feast (Feast stays the feature contract).

Rows are written with the provider's ``online_write_batch``, the call ``FeatureStore.push`` ends in, on the
registry's own feature views (``customer_intraday``, ``merchant_intraday``, whose push sources name the same
views): the same keys, value protos and timestamps, without the detour ``push`` takes through pandas and
pyarrow row by row and a registry query per call, which took two thirds of a batch (see bench/stream.py).

Only each entity's newest row is written, as the committed state says (``Applied.current``): the online store
keeps one row per entity, and a late or redelivered event's row must never move a value backwards. Because the
state already knows which rows are newest, Feast's writer is run with its ``skip_dedup`` option: one pipelined
HSET per row instead of first reading every entity's stored timestamp in a round trip of its own
(bench/stream.py). The offline rows come from the backfill (``gyre.streaming.backfill``), the same code over
the ingested history, into the tables the push sources' batch sources name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gyre.streaming.aggregate import ENTITIES, Entity, Row

if TYPE_CHECKING:
    from feast import FeatureStore


def view_name(entity: Entity) -> str:
    return f"{entity.kind}_intraday"


def records(view: Any, entity: Entity, rows: Sequence[Row]) -> list[tuple[Any, dict[str, Any], Any, None]]:
    """Rows as Feast's online writers take them: entity key proto, value protos by feature, event time."""
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.types import Int64

    position = {name: i for i, name in enumerate(entity.features)}
    fields = [(f.name, position[f.name], f.dtype == Int64) for f in view.features]
    out = []
    for row in rows:
        key = EntityKey(join_keys=[entity.key], entity_values=[Value(string_val=row.entity_id)])
        values = {
            name: Value(int64_val=int(row.values[i])) if integer else Value(double_val=float(row.values[i]))
            for name, i, integer in fields
        }
        out.append((key, values, row.available_at, None))
    return out


class FeastSink:
    """Writes rows to Feast's online store for the registry's intraday feature views."""

    def __init__(self, store: FeatureStore | None = None) -> None:
        self._store = store
        self._views: dict[Entity, tuple[float, Any]] = {}
        self._skip_dedup: Any = None

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            from gyre.features.store import feature_store

            self._store = feature_store()
        return self._store

    def push(self, rows: Sequence[Row]) -> int:
        """Write ``rows``, each its entity's newest (``Applied.current``: at most one per entity); how many."""
        store = self.store
        provider = store._get_provider()
        config = self._config()
        written = 0
        for entity in ENTITIES:
            if group := [row for row in rows if row.entity == entity]:
                view = self._view(entity)
                provider.online_write_batch(config, view, records(view, entity, group), progress=None)
                written += len(group)
        return written

    def _config(self) -> Any:
        """The store's config with the online store's ``skip_dedup`` on (built once; the Redis client is Feast's)."""
        if self._skip_dedup is None:
            config = self.store.config
            online = config.online_store.model_copy(update={"skip_dedup": True})
            self._skip_dedup = config.model_copy(update={"online_config": online})
            self._skip_dedup._online_store = None  # a copy keeps the cached store config; built again from ours
        return self._skip_dedup

    def _view(self, entity: Entity) -> Any:
        """The registry's view, kept for the registry cache's TTL: Feast rebuilds a view from its protobuf on each
        ``get_feature_view``, 12 % of a scoring consumer's time at two calls a wave (bench/stream.py); a changed
        definition is picked up within two TTLs, where Feast's own cache (refreshed once a TTL) takes one."""
        held = self._views.get(entity)
        if held is not None and time.monotonic() < held[0]:
            return held[1]
        store = self.store
        view = store.get_feature_view(view_name(entity), allow_registry_cache=True)
        self._views[entity] = (time.monotonic() + max(store.config.registry.cache_ttl_seconds, 1), view)
        return view
