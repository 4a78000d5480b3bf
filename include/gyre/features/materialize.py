"""Feast apply (only when the definitions changed), materialization of an interval into Redis, and the checks
that the online store really serves it: freshness and training-serving skew. Each check fails loudly."""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from gyre.config import Settings, get_settings
from gyre.db import engine, query
from gyre.features.compute import ensure_schema
from gyre.features.online import feature_names, feature_service, online_features
from gyre.features.store import PROJECT, apply_definitions, definitions_digest, feature_store
from gyre.streaming.aggregate import ENTITIES
from gyre.streaming.sink import view_name

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

VIEWS = {"customer": ("customer_features", "customer_id"), "merchant": ("merchant_features", "merchant_id")}
# The streamed views (fraud_model_v2): their offline rows are the backfill's, one per transaction and entity.
INTRADAY_VIEWS = {entity.kind: (view_name(entity), entity.key) for entity in ENTITIES}


class FeatureCheckFailed(RuntimeError):
    """The online store does not serve what the offline store says it should."""


def apply_if_changed(settings: Settings | None = None, bind: sa.Engine | None = None) -> bool:
    """``feast apply`` when feature_repo/ differs from what was last applied, or the registry lacks the service."""
    settings = settings or get_settings()
    ensure_schema(bind)
    digest = definitions_digest(settings)
    with (bind or engine()).connect() as connection:
        applied = connection.execute(query("features/applied_digest.sql"), {"project": PROJECT}).scalar()
    if applied == digest and _registry_has_service(settings, bind):
        log.info("feature definitions unchanged (%s): no apply", digest)
        return False
    apply_definitions(settings)
    with (bind or engine()).begin() as connection:
        connection.execute(query("features/record_applied.sql"), {"project": PROJECT, "digest": digest})
    log.info("feature definitions applied (%s)", digest)
    return True


def _registry_has_service(settings: Settings, bind: sa.Engine | None = None) -> bool:
    """Asked of Feast's registry tables in SQL: importing Feast costs ~10 s of CPU on every `gyre up`."""
    with (bind or engine()).connect() as connection:
        params = {"project": PROJECT, "service": settings.feature_service}
        return bool(connection.execute(query("features/registry_has_service.sql"), params).scalar())


@dataclass(frozen=True)
class Materialized:
    start: dt.datetime
    end: dt.datetime
    entities: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.entities / self.seconds if self.seconds else math.inf


def materialize_interval(start: dt.datetime, end: dt.datetime, store: FeatureStore | None = None) -> Materialized:
    """Write the latest row per entity of the interval's feature rows (stamped in ``(start, end]``) to Redis:
    the daily views and the intraday ones (the state after each entity's last transaction of the interval).

    Feast keeps a newer value already online (a later interval materialized first, or the stream consumer
    ahead of the batch), so repeating or reordering intervals never moves Redis backwards.
    """
    store = store or feature_store()
    began = time.perf_counter()
    views = [name for name, _ in (*VIEWS.values(), *INTRADAY_VIEWS.values())]
    store.materialize(start_date=start, end_date=end, feature_views=views)
    seconds = time.perf_counter() - began
    entities = len(_interval_latest(start, end))
    log.info("materialized %s..%s: %d entities in %.2f s", start, end, entities, seconds)
    return Materialized(start, end, entities, seconds)


def _interval_latest(start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    with engine().connect() as connection:
        frame = pd.read_sql(query("features/interval_latest.sql"), connection, params={"start": start, "end": end})
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def _online_timestamps(store: FeatureStore, view: str, key: str, ids: list[str]) -> list[pd.Timestamp | None]:
    """Event time of each entity's online row (``None`` when Redis has none), at nanosecond precision."""
    fv = store.get_feature_view(view)
    response = store.get_online_features(
        features=[f"{view}:{fv.features[0].name}"], entity_rows=[{key: i} for i in ids]
    )
    names = list(response.proto.metadata.feature_names.val)
    vector = response.proto.results[names.index(fv.features[0].name)]
    out: list[pd.Timestamp | None] = []
    for value, ts in zip(vector.values, vector.event_timestamps, strict=True):
        present = value.WhichOneof("val") is not None
        out.append(pd.Timestamp(ts.seconds * 1_000_000_000 + ts.nanos, tz="UTC") if present else None)
    return out


@dataclass
class Freshness:
    entities: int
    stale: dict[str, int] = field(default_factory=dict)


def check_freshness(start: dt.datetime, end: dt.datetime, store: FeatureStore | None = None) -> Freshness:
    """Every entity with feature rows in the interval is online with that row or a newer one; else raise."""
    store = store or feature_store()
    latest = _interval_latest(start, end)
    result = Freshness(len(latest))
    problems = []
    for view, (fv_name, key) in VIEWS.items():
        expected = latest[latest["view"] == view]
        ids = expected["entity_id"].tolist()
        online = _online_timestamps(store, fv_name, key, ids) if ids else []
        stale = [
            (i, want, got)
            for i, want, got in zip(ids, expected["event_timestamp"], online, strict=True)
            if got is None or got < want
        ]
        result.stale[view] = len(stale)
        if stale:
            i, want, got = stale[0]
            problems.append(f"{len(stale)} of {len(ids)} {view}s not fresh (e.g. {i}: offline {want}, online {got})")
    if problems:
        raise FeatureCheckFailed(f"online store stale for {start}..{end}: " + "; ".join(problems))
    log.info("freshness %s..%s: %d entities online with their latest rows", start, end, result.entities)
    return result


@dataclass
class Skew:
    as_of: dt.datetime
    rows: int
    features: int
    mismatches: list[str] = field(default_factory=list)


def _same(a: Any, b: Any, tolerance: float) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NA
    b_missing = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NA
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b)))


def check_skew(
    start: dt.datetime, end: dt.datetime, store: FeatureStore | None = None, settings: Settings | None = None
) -> Skew:
    """Sampled transactions of the interval, read as serving reads them (Redis, ``online_features``) and as
    training reads them (offline as-of join at the same time, the same request fields): every feature equal."""
    settings = settings or get_settings()
    store = store or feature_store(settings)
    with engine().connect() as connection:
        params = {"start": start, "end": end, "sample": settings.feature_skew_sample}
        sample = pd.read_sql(query("features/skew_sample.sql"), connection, params=params)
    service = feature_service(store, settings)
    names = feature_names(service)
    if sample.empty:
        return Skew(end, 0, len(names))
    # As of the interval's end, for the rows whose entities Redis holds at this interval or earlier. When a
    # later interval is already online (a catch-up of an old day), an entity that moved on is read by serving
    # at its newer row, which the offline store at this interval's end cannot show: those rows are left out.
    end_ts = pd.Timestamp(end)
    current = pd.Series(True, index=sample.index)
    for fv_name, key in (*VIEWS.values(), *INTRADAY_VIEWS.values()):
        online_at = _online_timestamps(store, fv_name, key, sample[key].tolist())
        current &= pd.Series([at is None or at <= end_ts for at in online_at], index=sample.index)
    moved_on = int((~current).sum())
    sample = sample[current].reset_index(drop=True)
    if sample.empty:
        log.info("skew: every sampled entity has newer online rows than %s (%d): nothing to compare", end, moved_on)
        return Skew(end, 0, len(names))
    sample["event_timestamp"] = end_ts
    online = online_features(sample.to_dict("records"), store, settings)
    online.index = sample["transaction_id"].to_numpy()
    offline = store.get_historical_features(entity_df=sample, features=service).to_df()
    offline = offline.set_index("transaction_id").loc[online.index, names]
    result = Skew(end, len(sample), len(names))
    for name in names:
        for tx, a, b in zip(online.index, online[name], offline[name], strict=True):
            if not _same(a, b, settings.feature_skew_tolerance):
                result.mismatches.append(f"{name} for {tx}: online {a!r}, offline {b!r}")
    if result.mismatches:
        shown = "; ".join(result.mismatches[:5])
        raise FeatureCheckFailed(
            f"training-serving skew as of {end}: {len(result.mismatches)} of {len(sample) * len(names)} values "
            f"differ ({shown})"
        )
    log.info(
        "skew as of %s: %d transactions x %d features equal online and offline (%d left out: newer rows online)",
        end,
        len(sample),
        len(names),
        moved_on,
    )
    return result
