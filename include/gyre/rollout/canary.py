"""Canary rollout: a version that passed the gate answers a growing share of customers, or is rolled back.

Where the share lives: on the canary's model version in MLflow (alias ``canary``, tags ``gyre.canary.percent``
and ``gyre.canary.since``), not in a Postgres row. The alias is already what deploys a model here and serving
already polls the registry; one ``get_model_version_by_alias`` call returns the version together with its tags,
so a serving process can never see a share without its version (two stores could disagree between two writes),
it keeps following the rollout while Postgres is away (the prediction log is best-effort, the registry is not),
and the MLflow UI shows the share beside the version. Every change is also an audit row (``gyre model history``).

Each check (DAG ``canary_rollout``) reads the step's answers of both arms from ``prediction_log`` and decides:

- roll back (``canary`` alias removed, ``champion`` untouched, audit row with the reason, notifier event) when the
  canary's ONNX does not load, or its error rate, latency p99, score PSI or ROC-AUC on matured labels is beyond
  its named threshold (``CanaryRules``);
- hold while the step is younger than its hold window or either arm has too few answers to compare;
- widen to the next step of ``GYRE_CANARY_STEPS``, or, when that step is 100 %, complete: ``champion`` moves to
  the canary through ``gyre.registry.models.promote`` (so ``previous-champion`` is the rollback target).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gyre.config import Settings, get_settings
from gyre.db import apply_schema, engine, query
from gyre.registry import audit, models

log = logging.getLogger(__name__)

CANARY, CHAMPION = "canary", "champion"
PERCENT_TAG, SINCE_TAG = "gyre.canary.percent", "gyre.canary.since"
READ_SCHEMAS = ("ingest/schema.sql", "serving/schema.sql")
PER_ARM = 50_000  # newest answers per arm a check reads: enough for a p99 and ten score bins
MIN_LABELLED = 10  # frauds and non-frauds each arm needs before ROC-AUC is compared
PSI_BINS, PSI_FLOOR = 10, 1e-4


@dataclass(frozen=True)
class Canary:
    """The version on the canary arm, the percent of customers it answers, and since when (the step's start)."""

    version: str
    percent: float
    since: dt.datetime


def canary(name: str) -> Canary | None:
    """The canary, read in one registry call (the alias' version comes with its tags)."""
    from mlflow.exceptions import MlflowException

    try:
        found = models.client().get_model_version_by_alias(name, CANARY)
    except MlflowException:
        return None
    since = found.tags.get(SINCE_TAG)
    return Canary(
        found.version,
        float(found.tags.get(PERCENT_TAG, 0)),
        dt.datetime.fromisoformat(since) if since else dt.datetime.fromtimestamp(0, dt.UTC),
    )


def canary_share(name: str) -> tuple[str, float] | None:
    """``(version, percent)`` of the canary: what a serving process polls."""
    found = canary(name)
    return None if found is None else (found.version, found.percent)


def _set(name: str, version: str, percent: float, since: dt.datetime, reason: str, metrics: dict[str, Any]) -> None:
    """Tags first, then the alias: the alias never points at a version without its share."""
    before = models.version_of(name, CANARY)
    models.set_version_tags(name, version, {PERCENT_TAG: f"{percent:g}", SINCE_TAG: since.isoformat()})
    if before != version:
        models.client().set_registered_model_alias(name, CANARY, version)
    audit.record(name, "canary", reason, CANARY, before, version, metrics)


def _end(name: str, version: str, action: str, reason: str, metrics: dict[str, Any]) -> None:
    models.client().delete_registered_model_alias(name, CANARY)
    models.set_version_tags(name, version, {PERCENT_TAG: "0"})
    audit.record(name, action, reason, CANARY, version, None, metrics)


@dataclass(frozen=True)
class CanaryRules:
    steps: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)
    hold: dt.timedelta = dt.timedelta(minutes=30)
    min_requests: int = 200
    max_error_rate: float = 0.01
    max_latency_ratio: float = 1.5
    latency_slack_ms: float = 5.0
    max_score_psi: float = 0.2
    max_roc_auc_drop: float = 0.05
    label_delay: dt.timedelta = dt.timedelta(days=14)

    @classmethod
    def from_settings(cls, settings: Settings) -> CanaryRules:
        return cls(
            steps=settings.canary_percents,
            hold=dt.timedelta(minutes=settings.canary_hold_minutes),
            min_requests=settings.canary_min_requests,
            max_error_rate=settings.canary_max_error_rate,
            max_latency_ratio=settings.canary_max_latency_ratio,
            latency_slack_ms=settings.canary_latency_slack_ms,
            max_score_psi=settings.canary_max_score_psi,
            max_roc_auc_drop=settings.canary_max_roc_auc_drop,
            label_delay=dt.timedelta(days=settings.training_label_delay_days),
        )


@dataclass(frozen=True)
class ArmSignals:
    """One arm's answers in a step: how many, how many the canary failed on, latency p99, scores, ROC-AUC."""

    requests: int = 0
    errors: int = 0
    latency_p99_ms: float | None = None
    scores: np.ndarray = field(default_factory=lambda: np.empty(0))
    roc_auc: float | None = None

    @classmethod
    def of(cls, rows: list[Any]) -> ArmSignals:
        scored = [r for r in rows if not r.failed]
        matured = [r for r in scored if r.matured]
        frauds = sum(r.reported_fraud for r in matured)
        roc_auc = None
        if min(frauds, len(matured) - frauds) >= MIN_LABELLED:
            from sklearn.metrics import roc_auc_score

            roc_auc = float(roc_auc_score([r.reported_fraud for r in matured], [r.score for r in matured]))
        return cls(
            requests=len(rows),
            errors=len(rows) - len(scored),
            latency_p99_ms=float(np.percentile([r.latency_ms for r in scored], 99)) if scored else None,
            scores=np.array([r.score for r in scored], dtype=float),
            roc_auc=roc_auc,
        )


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of ``current`` against ``reference`` on the reference's deciles."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
    expected, actual = (
        np.clip(np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1) / len(x), PSI_FLOOR, 1)
        for x in (reference, current)
    )
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def arm_signals(name: str, since: dt.datetime, until: dt.datetime, rules: CanaryRules) -> dict[str, ArmSignals]:
    """Both arms' answers since the step began, from ``prediction_log``."""
    apply_schema(READ_SCHEMAS)
    params = {
        "model_name": name,
        "since": since,
        "until": until,
        "matured_before": until - rules.label_delay,
        "per_arm": PER_ARM,
    }
    with engine().connect() as connection:
        rows = connection.execute(query("rollout/arm_rows.sql"), params).all()
    return {arm: ArmSignals.of([r for r in rows if r.arm == arm]) for arm in (CHAMPION, CANARY)}


@dataclass(frozen=True)
class Verdict:
    """What one check decided (``hold``, ``widen``, ``complete`` or ``roll_back``) and why."""

    action: str
    version: str
    percent: float
    next_percent: float | None
    reasons: list[str]
    metrics: dict[str, float]

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    state: Canary,
    champion: ArmSignals,
    canary_arm: ArmSignals,
    rules: CanaryRules,
    now: dt.datetime,
    load_error: str | None = None,
) -> Verdict:
    """The rules, in order: anything failing rolls back; then the hold window and the sample size; then a step."""
    failures: list[str] = []
    passes: list[str] = []
    metrics: dict[str, float] = {"canary_requests": canary_arm.requests, "champion_requests": champion.requests}
    enough = min(canary_arm.requests, champion.requests) >= rules.min_requests
    if load_error is not None:
        failures.append(f"version {state.version} does not load: {load_error}")
    if canary_arm.requests:
        rate = canary_arm.errors / canary_arm.requests
        metrics["canary_error_rate"] = rate
        verdict = f"error rate {rate:.2%} of {canary_arm.requests} (allowed {rules.max_error_rate:.2%})"
        (failures if rate > rules.max_error_rate else passes).append(verdict)
    if enough and canary_arm.latency_p99_ms is not None and champion.latency_p99_ms is not None:
        bound = champion.latency_p99_ms * rules.max_latency_ratio + rules.latency_slack_ms
        metrics |= {"canary_p99_ms": canary_arm.latency_p99_ms, "champion_p99_ms": champion.latency_p99_ms}
        verdict = f"latency p99 {canary_arm.latency_p99_ms:.1f} ms vs champion {champion.latency_p99_ms:.1f} ms"
        (failures if canary_arm.latency_p99_ms > bound else passes).append(f"{verdict} (allowed {bound:.1f})")
    if enough and len(canary_arm.scores) and len(champion.scores):
        shift = metrics["score_psi"] = psi(champion.scores, canary_arm.scores)
        verdict = f"score PSI {shift:.3f} vs the champion's (allowed {rules.max_score_psi:g})"
        (failures if shift > rules.max_score_psi else passes).append(verdict)
    if canary_arm.roc_auc is not None and champion.roc_auc is not None:
        drop = champion.roc_auc - canary_arm.roc_auc
        metrics |= {"canary_roc_auc": canary_arm.roc_auc, "champion_roc_auc": champion.roc_auc}
        verdict = f"ROC-AUC {canary_arm.roc_auc:.3f} vs champion {champion.roc_auc:.3f} on matured labels"
        (failures if drop > rules.max_roc_auc_drop else passes).append(
            f"{verdict} (drop allowed {rules.max_roc_auc_drop:g})"
        )
    if failures:
        return Verdict("roll_back", state.version, state.percent, None, failures, metrics)
    held = now - state.since
    if held < rules.hold:
        passes.append(
            f"step {state.percent:g}% held {held.total_seconds() / 60:.0f} of {rules.hold.total_seconds() / 60:.0f} min"
        )
        return Verdict("hold", state.version, state.percent, None, passes, metrics)
    if not enough:
        passes.append(
            f"{canary_arm.requests} canary and {champion.requests} champion answers; "
            f"a step needs {rules.min_requests} of each"
        )
        return Verdict("hold", state.version, state.percent, None, passes, metrics)
    following = next((step for step in rules.steps if step > state.percent), 100.0)
    action = "complete" if following >= 100 else "widen"
    return Verdict(action, state.version, state.percent, following, passes, metrics)


def _load_error(name: str) -> str | None:
    """Load the canary's ONNX exactly as serving does; the error if it does not."""
    from gyre.serving.model import load_version

    try:
        load_version(name, CANARY, models.onnx_for)
    except Exception as error:  # noqa: BLE001 - any failure to load is the verdict
        return f"{type(error).__name__}: {error}"[:500]
    return None


def check(settings: Settings | None = None, now: dt.datetime | None = None) -> Verdict | None:
    """Judge the running canary on its step's live signals; ``None`` when no canary runs."""
    settings = settings or get_settings()
    state = canary(settings.model_name)
    if state is None or state.percent <= 0:
        log.info("no canary of %s is running", settings.model_name)
        return None
    now = now or dt.datetime.now(dt.UTC)
    rules = CanaryRules.from_settings(settings)
    load_error = _load_error(settings.model_name)
    arms = arm_signals(settings.model_name, state.since, now, rules)
    verdict = decide(state, arms[CHAMPION], arms[CANARY], rules, now, load_error)
    log.info("canary %s at %g%%: %s (%s)", state.version, state.percent, verdict.action, verdict.summary)
    return verdict


def start(version: str, summary: str, metrics: dict[str, Any], settings: Settings | None = None) -> str:
    """Put a version that passed the gate on the first step (a running canary is replaced); returns what happened."""
    settings = settings or get_settings()
    name, first = settings.model_name, settings.canary_percents[0]
    if models.version_of(name, models.CHAMPION) == version:
        return f"version {version} already is the champion"
    _set(name, version, first, dt.datetime.now(dt.UTC), f"canary on {first:g}% of customers: {summary}", metrics)
    return f"{name} version {version} is the canary on {first:g}% of customers"


def apply(verdict: Verdict, settings: Settings | None = None, now: dt.datetime | None = None) -> str:
    """Carry out a check's verdict (``widen``, ``complete`` or ``roll_back``); returns what happened.

    Nothing is done if the canary changed since the check (a newer canary, or one ended by hand).
    """
    from gyre.notify import Event, notify

    settings = settings or get_settings()
    name, version = settings.model_name, verdict.version
    state = canary(name)
    if state is None or (state.version, state.percent) != (version, verdict.percent):
        return f"canary of {name} changed since the check ({state}); nothing done"
    details = {"model": name, "version": version, "percent": verdict.percent, "reasons": verdict.reasons}
    if verdict.action == "widen":
        step = f"{verdict.percent:g}% -> {verdict.next_percent:g}%"
        _set(
            name,
            version,
            verdict.next_percent,
            now or dt.datetime.now(dt.UTC),
            f"widened {step}: {verdict.summary}",
            verdict.metrics,
        )
        message = f"{name} canary version {version} widened {step}"
        notify(Event.CANARY, message, details, settings)
    elif verdict.action == "complete":
        models.promote(name, version, f"canary complete after {verdict.percent:g}%: {verdict.summary}", verdict.metrics)
        _end(name, version, "canary", f"canary complete: version {version} is the champion", verdict.metrics)
        message = f"{name} version {version} is the champion: canary complete after {verdict.percent:g}%"
        notify(Event.PROMOTED, message, details, settings)
    elif verdict.action == "roll_back":
        champion = models.version_of(name, models.CHAMPION)
        reason = f"canary rolled back at {verdict.percent:g}%, champion {champion} untouched: {verdict.summary}"
        _end(name, version, "rollback", reason, verdict.metrics)
        message = f"{name} canary version {version} rolled back at {verdict.percent:g}%: {verdict.summary}"
        notify(Event.ROLLBACK, message, details, settings)
    else:
        raise ValueError(f"nothing to apply for a {verdict.action!r} verdict")
    return message
