"""Retrain or not: configured drift rules give the reasons, guardrails can hold a retrain back.

Rules and guardrails are separate on purpose: a night can show real drift (reasons, written down) and
still not retrain because one is already running or the weekly cap is spent (blocked_by, written down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gyre.config import Settings
from gyre.monitoring.drift import DriftResult


@dataclass(frozen=True)
class DriftRules:
    max_drifted_share: float = 0.3
    key_features: tuple[str, ...] = ()
    key_feature_psi: float = 0.2
    prediction_psi: float = 0.2
    max_roc_auc_drop: float = 0.05

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftRules:
        keys = tuple(name.strip() for name in settings.drift_key_features.split(",") if name.strip())
        return cls(
            max_drifted_share=settings.drift_max_drifted_share,
            key_features=keys,
            key_feature_psi=settings.drift_key_feature_psi,
            prediction_psi=settings.drift_prediction_psi,
            max_roc_auc_drop=settings.drift_max_roc_auc_drop,
        )


@dataclass(frozen=True)
class Guardrails:
    cooldown: timedelta = timedelta(hours=24)
    weekly_cap: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> Guardrails:
        return cls(timedelta(hours=settings.retrain_cooldown_hours), settings.retrain_weekly_cap)


@dataclass(frozen=True)
class PastRetrain:
    requested_at: datetime
    finished: bool


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reasons: list[str] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if self.retrain:
            return "retrain: " + "; ".join(self.reasons)
        if self.reasons:
            return "drift seen, retrain held back: " + "; ".join(self.blocked_by)
        return "no action: no rule fired"


def drift_reasons(result: DriftResult, rules: DriftRules, reference_roc_auc: float | None = None) -> list[str]:
    """Every configured rule that fired, each as a sentence a person can act on."""
    reasons = []
    if result.features and result.drifted_share >= rules.max_drifted_share:
        reasons.append(
            f"{len(result.drifted_features)}/{len(result.features)} features drifted "
            f"({result.drifted_share:.0%} >= {rules.max_drifted_share:.0%}): {', '.join(result.drifted_features)}"
        )
    for name in rules.key_features:
        # Either signal counts: PSI misses a shift inside its quantile bins that the column's own test sees.
        drift = result.features.get(name)
        if drift is not None and drift.psi is not None and drift.psi >= rules.key_feature_psi:
            reasons.append(f"key feature {name} drifted: PSI {drift.psi:.3f} >= {rules.key_feature_psi}")
        elif drift is not None and drift.drifted:
            reasons.append(f"key feature {name} drifted: {drift.method} {drift.score:.3f} (limit {drift.threshold})")
    prediction_psi = result.prediction.psi if result.prediction is not None else None
    if prediction_psi is not None and prediction_psi >= rules.prediction_psi:
        reasons.append(f"prediction drifted: PSI {result.prediction.psi:.3f} >= {rules.prediction_psi}")
    quality = result.quality
    if quality and quality.roc_auc is not None and reference_roc_auc is not None:
        drop = reference_roc_auc - quality.roc_auc
        noise = 1.96 * roc_auc_standard_error(quality.roc_auc, quality.positives, quality.rows - quality.positives)
        if drop > rules.max_roc_auc_drop + noise:
            reasons.append(
                f"ROC-AUC on {quality.rows} matured labels ({quality.positives} frauds) fell {drop:.3f} "
                f"({reference_roc_auc:.3f} -> {quality.roc_auc:.3f}) > {rules.max_roc_auc_drop} "
                f"+ {noise:.3f} sampling error"
            )
    return reasons


def roc_auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982): with a few dozen frauds a night, ROC-AUC moves by ~0.05 on clean traffic alone,
    so a drop counts only beyond the 95 % sampling error of the night's estimate."""
    if positives < 1 or negatives < 1:
        return math.inf
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    return math.sqrt(max(variance, 0.0) / (positives * negatives))


def decide(reasons: list[str], history: list[PastRetrain], at: datetime, guard: Guardrails) -> Decision:
    """Apply the guardrails to the reasons; ``at`` is the interval's end, never the wall clock."""
    if not reasons:
        return Decision(retrain=False)
    blocked = []
    if any(not past.finished for past in history):
        blocked.append("a retrain is already in flight")
    recent = [past for past in history if past.requested_at <= at]
    if recent:
        last = max(past.requested_at for past in recent)
        if at - last < guard.cooldown:
            blocked.append(f"cooldown: last retrain requested {at - last} ago (< {guard.cooldown})")
    week = [past for past in recent if at - past.requested_at < timedelta(days=7)]
    if len(week) >= guard.weekly_cap:
        blocked.append(f"weekly cap reached: {len(week)} retrains in the last 7 days (cap {guard.weekly_cap})")
    return Decision(retrain=not blocked, reasons=reasons, blocked_by=blocked)
