"""The gate: a challenger replaces the champion only if it is better on the same frozen holdout.

Checks, all named and all reported: ONNX parity proven; every behavioural case holds; and either
PR-AUC beats the champion's by the configured margin without calibration error rising beyond its bound,
or, with no champion yet, PR-AUC clears the absolute floor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from gyre.config import Settings, get_settings
from gyre.registry.behaviour import BehaviourResult, check_all
from gyre.registry.models import LoadedVersion
from gyre.training.metrics import Metrics, evaluate
from gyre.training.spec import TrainingSpec

log = logging.getLogger(__name__)

PARITY_TAG = "gyre.onnx_parity"


@dataclass
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    behaviour: list[BehaviourResult] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return ("promote: " if self.promote else "reject: ") + "; ".join(self.reasons)


def _score(model: LoadedVersion, holdout: pd.DataFrame, spec: TrainingSpec, settings: Settings) -> Metrics:
    missing = set(model.numeric + model.categorical) - set(holdout.columns)
    if missing:
        raise LookupError(f"version {model.version} needs inputs missing from the holdout: {sorted(missing)}")
    return evaluate(holdout[spec.label].to_numpy(int), model.proba(holdout), settings.recall_at_fpr)


def decide(
    challenger: LoadedVersion,
    champion: LoadedVersion | None,
    spec: TrainingSpec,
    settings: Settings | None = None,
) -> GateDecision:
    """Judge ``challenger`` against ``champion`` on the challenger's frozen holdout."""
    settings = settings or get_settings()
    holdout = challenger.holdout
    failures: list[str] = []
    passes: list[str] = []
    ours = _score(challenger, holdout, spec, settings)
    metrics = ours.as_dict("challenger_")

    parity = challenger.run_tags.get(PARITY_TAG)
    if parity != "pass":
        failures.append(f"not promotable: ONNX parity {parity or 'not checked'}")

    results = check_all(challenger.proba, holdout.drop(columns=[spec.label]), spec.behaviour)
    for result in results:
        (passes if result.passed else failures).append(f"behaviour {result.name}: {result.detail}")

    if champion is None:
        floor = settings.gate_min_pr_auc
        verdict = f"first model: PR-AUC {ours.pr_auc:.4f} vs floor {floor:.4f}"
        (passes if ours.pr_auc >= floor else failures).append(verdict)
    else:
        try:
            theirs = _score(champion, holdout, spec, settings)
        except LookupError as error:
            failures.append(f"cannot compare with champion: {error}")
        else:
            metrics |= theirs.as_dict("champion_")
            needed = theirs.pr_auc + settings.gate_pr_auc_margin
            verdict = (
                f"PR-AUC {ours.pr_auc:.4f} vs champion v{champion.version} {theirs.pr_auc:.4f} "
                f"+ margin {settings.gate_pr_auc_margin:g} = {needed:.4f}"
            )
            (passes if ours.pr_auc >= needed else failures).append(verdict)
            allowed = theirs.ece + settings.gate_max_calibration_loss
            verdict = f"calibration error {ours.ece:.4f} vs champion {theirs.ece:.4f} (allowed up to {allowed:.4f})"
            (passes if ours.ece <= allowed else failures).append(verdict)

    decision = GateDecision(not failures, failures or passes, metrics, results)
    log.info("gate for version %s: %s", challenger.version, decision.summary)
    return decision
