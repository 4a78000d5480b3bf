"""The models being served: ``champion`` answers, ``challenger`` is scored in shadow, and during a canary rollout
``canary`` answers a share of customers; all follow the registry.

A background thread polls the registry's aliases. When one moves it loads the new version's ONNX file, warms
it up and then swaps a single reference: a request reads that reference once and finishes on the model it
started with, so a swap never fails or mixes an in-flight request. A version that cannot be loaded leaves the
current one serving and is reported (``last_error``); a canary that cannot be loaded answers nobody.

The canary's share lives on its model version (tag ``gyre.canary.percent``, see ``gyre.rollout.canary``), so
one registry call per poll gives version and share together and serving never sees one without the other.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gyre.export.onnx import PROBABILITY_OUTPUT, OnnxScorer
from gyre.training.pipeline import MISSING_CATEGORY

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER, CANARY = "champion", "challenger", "canary"
BUCKETS = 10_000  # a share is routed in steps of 0.01 %


@dataclass(frozen=True)
class Deployed:
    """One loaded version: its ONNX session, its inputs and its decision threshold."""

    name: str
    version: str
    role: str
    scorer: OnnxScorer
    threshold: float

    @property
    def inputs(self) -> list[str]:
        return [*self.scorer.numeric, *self.scorer.categorical]

    def feed(self, rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
        """ONNX inputs straight from feature dicts (no DataFrame: a frame costs more than the model here)."""
        numeric = self.scorer.numeric
        # One array for every number, turned column-major: each input is then a contiguous row of it.
        by_row = np.array([[_number(row.get(c)) for c in numeric] for row in rows], dtype=np.float32)
        by_column = by_row.reshape(len(rows), len(numeric)).T.copy()
        out = {column: by_column[j].reshape(-1, 1) for j, column in enumerate(numeric)}
        for column in self.scorer.categorical:
            out[column] = np.array([[_category(row.get(column))] for row in rows], dtype=object)
        return out

    def score(self, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        (probabilities,) = self.scorer.session.run([PROBABILITY_OUTPUT], self.feed(rows))
        return probabilities[:, 1].astype(np.float64)

    def model_input(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row exactly as scored, for the prediction log (NaN written as null)."""
        values: dict[str, Any] = {c: _number(row.get(c)) for c in self.scorer.numeric}
        values = {c: (None if math.isnan(v) else v) for c, v in values.items()}
        values.update({c: _category(row.get(c)) for c in self.scorer.categorical})
        return values


def _number(value: Any) -> float:
    if value is None or isinstance(value, str):
        return math.nan
    return float(value)


def _category(value: Any) -> str:
    return MISSING_CATEGORY if value is None else str(value)


def bucket(name: str, version: str, customer_id: str) -> int:
    """The customer's place in ``0..BUCKETS-1`` for one canary version.

    A hash, not a random draw, so a customer stays on one model for the whole canary and a widened share only
    adds customers; salted with the version, so the next canary does not try the same customers first.
    """
    digest = hashlib.blake2b(f"{name}/{version}/{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


@dataclass(frozen=True)
class CanaryArm:
    """The canary version and the percent of customers it answers; replaced whole, so a request reads one pair."""

    model: Deployed
    percent: float

    def takes(self, customer_id: str) -> bool:
        return bucket(self.model.name, self.model.version, customer_id) < self.percent * BUCKETS / 100


Resolver = Callable[[str, str], tuple[str, Path, dict[str, Any]]]
VersionOf = Callable[[str, str], "str | None"]
CanaryOf = Callable[[str], "tuple[str, float] | None"]


def load_version(name: str, role: str, resolve: Resolver) -> Deployed:
    version, path, inputs = resolve(name, role)
    scorer = OnnxScorer(path, list(inputs["numeric"]), list(inputs["categorical"]))
    deployed = Deployed(name, str(version), role, scorer, float(inputs.get("threshold", 0.5)))
    deployed.score([{}])  # warm-up: the first run of a session allocates; no request should pay for it
    return deployed


class ModelHolder:
    """``champion`` and ``challenger`` of one registered model, kept in step with the registry."""

    def __init__(
        self,
        name: str,
        poll_interval_s: float,
        resolve: Resolver | None = None,
        version_of: VersionOf | None = None,
        on_swap: Callable[[Deployed | None, Deployed | None], None] | None = None,
        canary_of: CanaryOf | None = None,
    ) -> None:
        """``canary_of`` (``gyre.rollout.canary.canary_share`` in canary mode) makes it follow the canary too.

        ``on_swap(old, new)`` hears every change of what a role serves; ``new`` is None when a role is emptied (a
        challenger retired, a canary ended or not loadable), so nothing reports a dropped version as served.
        """
        from gyre.registry import models

        self.name = name
        self.poll_interval_s = poll_interval_s
        self._resolve = resolve or models.onnx_for
        self._version_of = version_of or models.version_of
        self._canary_of = canary_of
        self._on_swap = on_swap
        self.on_poll: Callable[[], None] | None = None
        self.champion: Deployed | None = None
        self.challenger: Deployed | None = None
        self.canary: CanaryArm | None = None
        self.last_error: str | None = None
        self.checks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Follow both aliases once; loading happens before the swap, outside any request."""
        with self._lock:
            errors: list[str] = []
            for role, follow in ((CHAMPION, self._follow), (CHALLENGER, self._follow), (CANARY, self._follow_canary)):
                try:
                    follow(role)
                except Exception as error:  # noqa: BLE001 - keep serving what is loaded; say why
                    errors.append(f"{role}: {type(error).__name__}: {error}")
            self.last_error = "; ".join(errors) or None
            self.checks += 1
            if self.last_error:
                log.warning("model refresh: %s", self.last_error)

    def _follow(self, role: str) -> None:
        current: Deployed | None = getattr(self, role)
        wanted = self._version_of(self.name, role)
        if wanted is None:
            if current is not None and role == CHALLENGER:
                self.challenger = None  # a retired challenger stops being shadowed; a champion is never dropped
                self._swapped(current, None)
            return
        if current is not None and current.version == str(wanted):
            return
        loaded = load_version(self.name, role, self._resolve)
        setattr(self, role, loaded)
        log.info("%s of %s: %s -> %s", role, self.name, current.version if current else None, loaded.version)
        self._swapped(current, loaded)

    def _swapped(self, old: Deployed | None, new: Deployed | None) -> None:
        if self._on_swap is not None and (old is not None or new is not None):
            self._on_swap(old, new)

    def _follow_canary(self, role: str) -> None:
        if self._canary_of is None:
            return
        wanted, current = self._canary_of(self.name), self.canary
        old = current.model if current else None
        if wanted is None or wanted[1] <= 0:
            self.canary = None  # rolled back or completed: every customer is the champion's again
            self._swapped(old, None)
            return
        version, percent = wanted
        if current is not None and current.model.version == str(version):
            if current.percent != percent:
                self.canary = CanaryArm(current.model, percent)
                log.info("canary %s of %s: %g%% -> %g%%", version, self.name, current.percent, percent)
            return
        self.canary = None  # a canary that does not load answers nobody
        try:
            loaded = load_version(self.name, role, self._resolve)
        except Exception:
            self._swapped(old, None)
            raise
        self.canary = CanaryArm(loaded, percent)
        log.info("canary of %s: version %s on %g%% of customers", self.name, loaded.version, percent)
        self._swapped(old, loaded)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gyre-model-poll", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            if self.on_poll is not None:
                try:
                    self.on_poll()
                except Exception as error:  # noqa: BLE001 - a side check must not stop the alias poll
                    log.warning("poll hook failed: %s", error)
            self._stop.wait(self.poll_interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def not_ready_reason(self) -> str | None:
        if self.champion is not None:
            return None
        if self.checks == 0:
            return "loading the champion model from the registry"
        why = f" (last error: {self.last_error})" if self.last_error else ""
        return f"no champion model: {self.name!r} has no 'champion' alias in the registry yet{why}"
