"""Everything a scoring process holds: the models, the feature lookup, the prediction log, shadow scoring, metrics.

The BentoML service builds one ``Runtime`` in its ``__init__`` and delegates to it; the request guard (an ASGI
middleware built before the service instance exists) reaches it through ``current()``.

With ``GYRE_ROLLOUT_MODE=canary`` the customers a hash puts in the canary's share are answered by the canary
version; if it fails on a request those rows are answered by the champion and logged with the error, so no
request fails and the canary's watcher (``gyre.rollout.canary``) sees its error rate.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import queue
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gyre.config import Settings
from gyre.serving.features import FeatureRows, HeldRow, OnlineFeatures
from gyre.serving.metrics import ServingMetrics
from gyre.serving.model import CANARY, CHALLENGER, CHAMPION, Deployed, ModelHolder
from gyre.serving.predlog import PredictionLog
from gyre.serving.schema import ScoreResult, Transaction

log = logging.getLogger(__name__)

_CURRENT: Runtime | None = None
GIL_SWITCH_INTERVAL_S = 0.0005


class NotReady(RuntimeError):
    """No champion is loaded yet; the message says why (it becomes the 503's body)."""


def current() -> Runtime | None:
    return _CURRENT


@dataclass
class _Shadow:
    transactions: Sequence[Transaction]
    features: FeatureRows
    request_ids: list[str]
    scored_at: dt.datetime


class Runtime:
    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder | None = None,
        features: OnlineFeatures | None = None,
        predictions: PredictionLog | None = None,
    ) -> None:
        from gyre.db import engine

        self.settings = settings
        self.metrics = ServingMetrics()
        if holder is None:
            from gyre.rollout.canary import canary_share

            canary_of = canary_share if settings.rollout_mode == "canary" else None
            holder = ModelHolder(settings.model_name, settings.serving_poll_interval_s, canary_of=canary_of)
        self.holder = holder
        self.holder._on_swap = self._swapped
        self.features = features or OnlineFeatures(settings)
        self.holder.on_poll = self.features.refresh
        self.predictions = predictions or PredictionLog(
            engine,
            settings.serving_log_queue,
            settings.serving_log_batch,
            on_drop=lambda reason, rows: self.metrics.log_dropped.labels(reason).inc(rows),
        )
        self._shadow: queue.Queue[_Shadow] = queue.Queue(maxsize=1000)
        self._stop = threading.Event()
        self._shadow_thread = threading.Thread(target=self._shadow_loop, name="gyre-shadow", daemon=True)
        self._served_check: tuple[tuple[int, int] | None, str | None] = (None, None)

    @classmethod
    def start(cls, settings: Settings, **parts: Any) -> Runtime:
        """Build, start the background threads, and make it the process's runtime."""
        global _CURRENT
        # ONNX Runtime and the Redis read release the GIL; a background thread (the prediction-log writer) that
        # takes it then keeps it up to the switch interval, 5 ms by default: the request waits that long.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        runtime = cls(settings, **parts)
        runtime.holder.start()
        runtime.predictions.start()
        runtime._shadow_thread.start()
        _CURRENT = runtime
        return runtime

    def stop(self) -> None:
        global _CURRENT
        self._stop.set()
        self.holder.stop()
        self.predictions.stop()
        self._shadow_thread.join(timeout=5)
        if _CURRENT is self:
            _CURRENT = None

    def _swapped(self, old: Deployed | None, new: Deployed | None) -> None:
        """``gyre_model_info`` says what is served: 1 for ``new``, 0 for ``old`` (None: the role was emptied)."""
        if old is not None:
            # Set to 0, not removed: a removed series would live on in the other workers' multiprocess files.
            self.metrics.model_info.labels(old.role, old.version).set(0)
        if new is None:
            return
        if old is not None:
            self.metrics.swaps.labels(new.role).inc()
        self.metrics.model_info.labels(new.role, new.version).set(1)
        # What the process holds from here on (libraries, the model, Feast's registry: ~400k objects) is moved
        # out of the collector's sight: a full collection over it takes 150-200 ms with the GIL held, and every
        # request in flight waits for it (/score's p99 at 8 connections was 178 ms against p50 7.6 ms).
        gc.freeze()

    # -- scoring ------------------------------------------------------------------------------------
    def _champion(self) -> Deployed:
        model = self.holder.champion
        if model is None:
            raise NotReady(self.holder.not_ready_reason() or "no champion model")
        return model

    def score(
        self, transactions: Sequence[Transaction], held: Sequence[Sequence[HeldRow]] | None = None
    ) -> list[ScoreResult]:
        """Score with the champion (read once: a swap mid-request cannot mix versions); log; queue the shadow.

        Blocks for the feature read (at most its timeout); ``score_async`` is the same without blocking.
        ``held``: feature values the caller holds, used instead of the online store's (the stream consumer's).
        """
        model, started, scored_at = self._champion(), time.perf_counter(), dt.datetime.now(dt.UTC)
        return self._verdicts(model, transactions, self.features(transactions, held), started, scored_at)

    async def score_async(self, transactions: Sequence[Transaction]) -> list[ScoreResult]:
        """``score`` for the event loop: the online read is awaited, the model runs in tens of microseconds."""
        model, started, scored_at = self._champion(), time.perf_counter(), dt.datetime.now(dt.UTC)
        features = await self.features.read(transactions)
        return self._verdicts(model, transactions, features, started, scored_at)

    def _verdicts(
        self,
        model: Deployed,
        transactions: Sequence[Transaction],
        features: FeatureRows,
        started: float,
        scored_at: dt.datetime,
    ) -> list[ScoreResult]:
        scores, canary, on_canary, error = self._score_arms(model, transactions, features)
        latency_ms = (time.perf_counter() - started) * 1000.0
        request_ids = [str(uuid.uuid4()) for _ in transactions]
        results = []
        decisions: Counter[tuple[str, str]] = Counter()  # counted once per label, not per row (a batch has 100s)
        for i, transaction in enumerate(transactions):
            arm = CANARY if i in on_canary else CHAMPION
            served = canary if arm == CANARY and error is None else model
            score = float(scores[i])
            decision = score >= served.threshold
            results.append(
                ScoreResult(
                    request_id=request_ids[i],
                    transaction_id=transaction.transaction_id,
                    score=score,
                    decision=decision,
                    threshold=served.threshold,
                    model_name=served.name,
                    model_version=served.version,
                    unknown_entity=features.unknown[i],
                    feature_age_s=features.age_s[i],
                )
            )
            decisions["fraud" if decision else "legit", served.version] += 1
            self.predictions.put(
                _log_row(served, transaction, features, i, request_ids[i], scored_at, score, decision, latency_ms)
                | {"arm": arm, "error": error if arm == CANARY else None}
            )
        for labels, count in decisions.items():
            self.metrics.decisions.labels(*labels).inc(count)
        if unknown := sum(features.unknown):
            self.metrics.unknown_entities.inc(unknown)
        self.metrics.log_queue.set(self.predictions.depth)
        if self.holder.challenger is not None:
            try:
                self._shadow.put_nowait(_Shadow(transactions, features, request_ids, scored_at))
            except queue.Full:
                self.metrics.shadow_dropped.labels("queue_full").inc(len(transactions))
        return results

    def _score_arms(
        self, champion: Deployed, transactions: Sequence[Transaction], features: FeatureRows
    ) -> tuple[np.ndarray, Deployed | None, set[int], str | None]:
        """Scores of every row, the canary, the rows it was routed, and why it failed on them (champion answered).

        The canary arm is read once, like the champion: a widening or rollback mid-request changes nothing in it.
        """
        arm = self.holder.canary
        on_canary = {i for i, t in enumerate(transactions) if arm.takes(t.customer_id)} if arm is not None else set()
        if not on_canary:
            return champion.score(features.rows), None, on_canary, None
        scores = np.empty(len(transactions))
        rest = [i for i in range(len(transactions)) if i not in on_canary]
        if rest:
            scores[rest] = champion.score([features.rows[i] for i in rest])
        routed = sorted(on_canary)
        try:
            scores[routed] = arm.model.score([features.rows[i] for i in routed])
            error = None
        except Exception as failure:  # noqa: BLE001 - a broken canary must not fail the request
            error = f"canary version {arm.model.version}: {type(failure).__name__}: {failure}"[:500]
            log.warning("%s; the champion answered", error)
            self.metrics.errors.labels("canary").inc(len(routed))
            scores[routed] = champion.score([features.rows[i] for i in routed])
        return scores, arm.model, on_canary, error

    def _shadow_loop(self) -> None:
        """Score the challenger on exactly the champion's features, off the request path, and log it too."""
        while not self._stop.is_set():
            try:
                job = self._shadow.get(timeout=0.2)
            except queue.Empty:
                continue
            challenger = self.holder.challenger
            if challenger is None:
                continue
            try:
                started = time.perf_counter()
                scores = challenger.score(job.features.rows)
                latency_ms = (time.perf_counter() - started) * 1000.0
                for i, transaction in enumerate(job.transactions):
                    score = float(scores[i])
                    self.predictions.put(
                        _log_row(
                            challenger,
                            transaction,
                            job.features,
                            i,
                            job.request_ids[i],
                            job.scored_at,
                            score,
                            score >= challenger.threshold,
                            latency_ms,
                        )
                        | {"arm": CHALLENGER, "error": None}
                    )
            except Exception as error:  # noqa: BLE001 - a broken challenger must not touch serving
                log.warning("shadow scoring with %s failed: %s", challenger.version, error)
                self.metrics.shadow_dropped.labels("failed").inc(len(job.transactions))

    # -- health -------------------------------------------------------------------------------------
    def not_ready_reason(self) -> str | None:
        return self.holder.not_ready_reason() or self._inputs_not_served()

    def _inputs_not_served(self) -> str | None:
        """Why the champion cannot be scored as trained: it takes features the endpoint's FeatureService does not
        serve (a model trained on ``fraud_model_v2`` behind ``GYRE_FEATURE_SERVICE=fraud_model_v1``), which it
        would otherwise get as missing values. Asked on every request, so judged once per champion and service."""
        champion, service = self.holder.champion, self.features.service
        if champion is None or service is None:
            return None
        key = (id(champion), id(service))
        if self._served_check[0] != key:
            from gyre.features.online import feature_names

            missing = sorted(set(champion.inputs) - set(feature_names(service)))
            reason = (
                f"champion v{champion.version} takes {len(missing)} features that FeatureService "
                f"{self.settings.feature_service} does not serve ({', '.join(missing[:4])}, ...): set "
                f"GYRE_FEATURE_SERVICE to the service it was trained on (its run's gyre.feature_service tag)"
                if missing
                else None
            )
            self._served_check = (key, reason)
        return self._served_check[1]

    def status(self) -> dict[str, Any]:
        champion, challenger, canary = self.holder.champion, self.holder.challenger, self.holder.canary
        return {
            "model_name": self.holder.name,
            "champion": champion.version if champion else None,
            "challenger": challenger.version if challenger else None,
            "canary": {"version": canary.model.version, "percent": canary.percent} if canary else None,
            "features": self.features.source,
            "features_error": self.features.error,
            "registry_error": self.holder.last_error,
            "prediction_log": {
                "queued": self.predictions.depth,
                "written": self.predictions.written,
                "dropped": dict(self.predictions.dropped),
                "last_error": self.predictions.last_error,
            },
        }

    def exposition(self, collected: str = "") -> str:
        self.metrics.log_queue.set(self.predictions.depth)
        return self.metrics.exposition(collected)


def _log_row(
    model: Deployed,
    transaction: Transaction,
    features: FeatureRows,
    i: int,
    request_id: str,
    scored_at: dt.datetime,
    score: float,
    decision: bool,
    latency_ms: float,
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "role": CHALLENGER if model.role == CHALLENGER else CHAMPION,  # the canary's rows are answers too
        "scored_at": scored_at,
        "event_timestamp": transaction.event_timestamp,
        "transaction_id": transaction.transaction_id,
        "customer_id": transaction.customer_id,
        "merchant_id": transaction.merchant_id,
        "model_name": model.name,
        "model_version": model.version,
        "score": score,
        "decision": decision,
        "threshold": model.threshold,
        "features": model.model_input(features.rows[i]),
        "unknown_entity": features.unknown[i],
        "feature_age_s": features.age_s[i],
        "latency_ms": latency_ms,
    }
