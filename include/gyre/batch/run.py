"""The batch job: resolve what to score, load the champion, stream chunks through features, model and write.

Progress (rows so far of the interval's total, rows/s) goes to the log after every chunk, which is the
Airflow task log when the DAG runs it. An interval without rows succeeds with zero rows and says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gyre.batch.scoring import Distribution, chunk_features, score_frame
from gyre.batch.source import BatchInputError, Interval, Source
from gyre.config import Settings, get_settings

log = logging.getLogger(__name__)

__all__ = ["BatchInputError", "BatchRequest", "request_for", "score_interval"]
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class BatchRequest:
    interval: Interval
    table: str | None = None


def _midnight(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day(value: str, name: str) -> dt.datetime:
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=dt.UTC)
    except ValueError as error:
        raise BatchInputError(f"param {name!r} must be a date (YYYY-MM-DD), got {value!r}") from error


def request_for(
    interval_start: dt.datetime | None, interval_end: dt.datetime | None, params: Mapping[str, Any]
) -> BatchRequest:
    """Params ``start``/``end`` (days, both included) win; else the data interval, on whole UTC days.

    The schedule runs after midnight once the day's ingest is in, so its interval is floored to midnight:
    consecutive runs cover consecutive calendar days, each transaction exactly once.
    """
    table = params.get("table") or None
    if params.get("start") or params.get("end"):
        start = _day(params.get("start") or params["end"], "start")
        end = _day(params.get("end") or params["start"], "end") + DAY
        if end <= start:
            raise BatchInputError(f"param 'end' ({params['end']}) is before 'start' ({params['start']})")
        return BatchRequest(Interval(start, end), table)
    if interval_start is None or interval_end is None:
        raise BatchInputError("no data interval and no 'start'/'end' params: nothing says what to score")
    start, end = _midnight(interval_start), _midnight(interval_end)
    return BatchRequest(Interval(start, max(end, start + DAY)), table)


def score_interval(request: BatchRequest, settings: Settings | None = None) -> dict[str, Any]:
    """Score every row of the request's source and interval; returns a JSON-able summary (an XCom reference)."""
    from gyre.batch import store, tracking
    from gyre.registry import models
    from gyre.serving.model import CHAMPION, load_version
    from gyre.training.dataset import analyze, feature_store

    settings = settings or get_settings()
    store.ensure_schema()
    source = Source(request.table, request.interval)  # an unknown table or column fails here, before any work
    model = load_version(settings.model_name, CHAMPION, models.onnx_for)
    model_run_id = models.client().get_model_version(settings.model_name, model.version).run_id
    total = source.count()
    log.info(
        "scoring %s, %s: %d rows with %s v%s (run %s), %d rows a chunk",
        source.name, request.interval, total, model.name, model.version, model_run_id, settings.batch_chunk_rows,
    )  # fmt: skip
    tags = {
        "gyre.kind": "batch_scores",
        "gyre.source": source.name,
        "gyre.interval_start": request.interval.start.isoformat(),
        "gyre.interval_end": request.interval.end.isoformat(),
        "gyre.model_version": model.version,
        "gyre.model_run_id": model_run_id,
        "gyre.feature_service": settings.feature_service,
    }
    first, last = request.interval.start, request.interval.end - DAY
    run_name = f"batch {source.name} {first:%Y-%m-%d}..{last:%Y-%m-%d} v{model.version}"
    distribution = Distribution(model.threshold)
    began = time.perf_counter()
    with tracking.batch_run(settings.model_name, run_name, tags) as run:
        stamp = store.Stamp(
            source.name, request.interval, model.name, model.version, model_run_id, run.info.run_id, model.threshold
        )
        chunks = 0
        with store.replacing(stamp) as writer:
            if total:
                analyze()
                feast = feature_store()
                service = feast.get_feature_service(settings.feature_service)
                for rows in source.chunks(settings.batch_chunk_rows):
                    features = chunk_features(rows, feast, service)
                    scores = score_frame(model, features)
                    writer.write(features, scores)
                    distribution.add(scores)
                    chunks += 1
                    elapsed = time.perf_counter() - began
                    log.info(
                        "chunk %d: %d of %d rows scored (%.0f%%), %.0f rows/s",
                        chunks, distribution.rows, total, 100 * distribution.rows / total, distribution.rows / elapsed,
                    )  # fmt: skip
        seconds = time.perf_counter() - began
        tracking.log_distribution(distribution, {"chunks": float(chunks), "seconds": seconds})
        if not distribution.rows:
            note = f"no rows to score in {source.name} for {request.interval}: 0 scored, nothing written"
            import mlflow

            mlflow.set_tag("gyre.note", note)
            log.info(note)
        else:
            log.info(
                "scored %d rows of %s in %.1f s: mean %.4f, median %.4f, p99 %.4f, %d at or above %.3f",
                distribution.rows, source.name, seconds, distribution.total / distribution.rows,
                distribution.quantile(0.5), distribution.quantile(0.99), distribution.flagged, model.threshold,
            )  # fmt: skip
    return {
        "source": source.name,
        "interval_start": request.interval.start.isoformat(),
        "interval_end": request.interval.end.isoformat(),
        "rows": distribution.rows,
        "flagged": distribution.flagged,
        "model_name": model.name,
        "model_version": model.version,
        "model_run_id": model_run_id,
        "batch_run_id": stamp.batch_run_id,
    }
