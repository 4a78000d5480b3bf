"""The training set of a window: a spine of labelled transactions, features from Feast's historical store.

Point-in-time correctness is Feast's job: ``get_historical_features`` joins each transaction with the
feature values as they were at its timestamp, for the FeatureService that is the model's input contract.
Labels are chargebacks reported before the label cut-off, so the spine never knows more than a model
trained on that day could have known.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from gyre.config import Settings, get_settings
from gyre.db import engine, query
from gyre.training.spec import FRAUD, TrainingSpec
from gyre.training.tracking import Lineage, git_commit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingWindow:
    """Transactions with ``start <= event_timestamp < end``; labels known before ``labels_as_of``."""

    start: dt.datetime
    end: dt.datetime
    labels_as_of: dt.datetime

    @classmethod
    def ending(cls, run_at: dt.datetime, settings: Settings | None = None) -> TrainingWindow:
        """The window a run at ``run_at`` trains on: it ends ``label_delay`` days before, so labels have matured."""
        settings = settings or get_settings()
        as_of = run_at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        end = as_of - dt.timedelta(days=settings.training_label_delay_days)
        return cls(end - dt.timedelta(days=settings.training_window_days), end, as_of)

    @property
    def days(self) -> tuple[dt.date, dt.date]:
        """First and last calendar day (both included)."""
        return self.start.date(), (self.end - dt.timedelta(microseconds=1)).date()

    def key(self) -> str:
        return f"window:{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}@{self.labels_as_of:%Y-%m-%d}"


def spine(window: TrainingWindow) -> pd.DataFrame:
    with engine().connect() as connection:
        params = {"start": window.start, "end": window.end, "labels_as_of": window.labels_as_of}
        return pd.read_sql(query("training/spine.sql"), connection, params=params)


def spine_chunks(window: TrainingWindow, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The same spine, ``chunk_rows`` at a time from a server-side cursor: memory stays bounded by the chunk."""
    params = {"start": window.start, "end": window.end, "labels_as_of": window.labels_as_of}
    with engine().connect().execution_options(stream_results=True, max_row_buffer=chunk_rows) as connection:
        yield from pd.read_sql(query("training/spine.sql"), connection, params=params, chunksize=chunk_rows)


def analyze() -> None:
    """Fresh planner statistics for the tables the point-in-time join reads."""
    with engine().begin() as connection:  # a join planned on fresh tables ran 6+ min; analyzed, 1.5 s
        connection.execute(query("training/analyze.sql"))


def feature_store() -> object:
    """The Feast store the features stage defines (``feature_repo/``), configured from Settings."""
    from gyre.features.store import feature_store as configured

    return configured()


def build_training_set(
    window: TrainingWindow, spec: TrainingSpec = FRAUD, settings: Settings | None = None
) -> pd.DataFrame:
    """Keys, timestamp, label and the FeatureService's features for every transaction of the window."""
    settings = settings or get_settings()
    rows = spine(window)
    log.info("spine %s: %d transactions, %d labelled fraud", window.key(), len(rows), int(rows[spec.label].sum()))
    if rows.empty:
        return rows
    analyze()
    store = feature_store()
    service = store.get_feature_service(settings.feature_service)
    features = historical_features(rows, store, service, (*spec.keys, spec.timestamp, spec.label))
    return features.sort_values([spec.timestamp, *spec.keys[:1]], kind="stable").reset_index(drop=True)


def historical_features(rows: pd.DataFrame, store: object, service: object, carry: tuple[str, ...]) -> pd.DataFrame:
    """Feast's point-in-time join of ``rows`` for the FeatureService: the ``carry`` columns, then its features.

    Training and batch scoring both read features through here, so they see the same values.
    """
    features = store.get_historical_features(entity_df=rows, features=service).to_df()
    names = [f.name for projection in service.feature_view_projections for f in projection.features]
    missing = sorted(set(names) - set(features.columns))
    if missing:
        raise LookupError(f"{service.name} did not return {missing}")
    return features[[c for c in carry if c in features.columns] + names]


def lineage(window: TrainingWindow, request_key: str, settings: Settings | None = None) -> Lineage:
    """Data version (ingest snapshot digests of both feeds), validation summary, service, window and commit."""
    from gyre.ingest.snapshot import interval_digest

    settings = settings or get_settings()
    first, last = window.days
    transactions = interval_digest("transactions", first, last)
    labels = interval_digest("labels", first, window.labels_as_of.date() - dt.timedelta(days=1))
    with engine().connect() as connection:
        summary = connection.execute(
            query("training/validation_summary.sql"), {"feed": "transactions", "first": first, "last": last}
        ).one()
    validation = (
        f"{summary.days} days validated: {summary.rows_loaded} rows loaded, "
        f"{summary.rows_quarantined} quarantined of {summary.rows_in}"
    )
    return Lineage(
        request_key=request_key,
        feature_service=settings.feature_service,
        window_start=window.start.isoformat(),
        window_end=window.end.isoformat(),
        data_digest=f"transactions {transactions['digest']}; labels {labels['digest']}",
        validation=validation,
        git_commit=git_commit(settings.project_root),
    )
