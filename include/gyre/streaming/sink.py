"""Where the aggregates go: the online store, through Feast's push sources (Feast stays the feature contract).

Only each entity's newest row of a batch is pushed: the online store keeps one row per entity, and Feast's
Redis writer drops a row older than the one it holds, so re-pushing a redelivered batch never moves a
value backwards. The offline rows come from the backfill (``gyre.streaming.backfill``), the same code over
the ingested history, into the tables the push sources' batch sources name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gyre.streaming.aggregate import ENTITIES, Entity, Row

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureStore


def push_source(entity: Entity) -> str:
    return f"{entity.kind}_intraday_push"


def view_name(entity: Entity) -> str:
    return f"{entity.kind}_intraday"


def latest(rows: Sequence[Row]) -> dict[Entity, list[Row]]:
    """Each entity's newest row (by availability, then arrival), grouped by kind of entity."""
    newest: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row.entity.kind, row.entity_id)
        held = newest.get(key)
        if held is None or row.available_at >= held.available_at:
            newest[key] = row
    out: dict[Entity, list[Row]] = {entity: [] for entity in ENTITIES}
    for row in newest.values():
        out[row.entity].append(row)
    return out


def frame(entity: Entity, rows: Sequence[Row]) -> pd.DataFrame:
    """Rows as the push source takes them: join key, ``event_timestamp`` and the view's features."""
    import pandas as pd

    data = pd.DataFrame([r.values for r in rows], columns=entity.features)
    data.insert(0, "event_timestamp", pd.to_datetime([r.available_at for r in rows], utc=True))
    data.insert(0, entity.key, [r.entity_id for r in rows])
    return data


class FeastSink:
    """Pushes rows to the online store through Feast (``PushMode.ONLINE``)."""

    def __init__(self, store: FeatureStore | None = None) -> None:
        self._store = store

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            from gyre.features.store import feature_store

            self._store = feature_store()
        return self._store

    def push(self, rows: Sequence[Row], newest_only: bool = True) -> int:
        """Push the rows (each entity's newest unless ``newest_only`` is off); the number of rows pushed."""
        from feast.data_source import PushMode

        groups = latest(rows) if newest_only else {e: [r for r in rows if r.entity == e] for e in ENTITIES}
        pushed = 0
        for entity, group in groups.items():
            if group:
                self.store.push(push_source(entity), frame(entity, group), to=PushMode.ONLINE)
                pushed += len(group)
        return pushed
