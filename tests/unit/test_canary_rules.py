"""The canary's rules on given signals: each named threshold rolls back, a young or thin step holds, else a step."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from gyre.config import ConfigError, load_settings
from gyre.rollout.canary import ArmSignals, Canary, CanaryRules, decide, psi

NOW = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
RULES = CanaryRules(steps=(5.0, 25.0, 100.0), hold=dt.timedelta(minutes=30), min_requests=200)
SCORES = np.random.default_rng(3).beta(1, 12, 4000)


def arm(requests: int = 1000, errors: int = 0, p99: float = 4.0, scores: np.ndarray = SCORES, auc=None) -> ArmSignals:  # noqa: ANN001
    return ArmSignals(requests, errors, p99, scores[: requests - errors], auc)


def judge(canary_arm: ArmSignals, percent: float = 5.0, age_min: float = 45, load_error: str | None = None) -> object:
    state = Canary("7", percent, NOW - dt.timedelta(minutes=age_min))
    return decide(state, arm(4000), canary_arm, RULES, NOW, load_error)


def test_a_healthy_step_widens_to_the_next_share_and_the_last_one_completes() -> None:
    assert (judge(arm()).action, judge(arm()).next_percent) == ("widen", 25.0)
    assert (judge(arm(), percent=25.0).action, judge(arm(), percent=25.0).next_percent) == ("complete", 100.0)


@pytest.mark.parametrize(
    ("canary_arm", "load_error", "reason"),
    [
        (arm(requests=3, errors=0), "InvalidProtobuf: not an ONNX model", "does not load"),
        (arm(requests=50, errors=2), None, "error rate 4.00% of 50"),
        (arm(p99=30.0), None, "latency p99 30.0 ms"),
        (arm(scores=np.clip(SCORES * 4, 0, 1)), None, "score PSI"),
        (ArmSignals(1000, 0, 4.0, SCORES[:1000], 0.80), None, "ROC-AUC 0.800 vs champion 0.900"),
    ],
)
def test_each_threshold_rolls_back_with_its_reason(canary_arm: ArmSignals, load_error: str | None, reason: str) -> None:
    champion = ArmSignals(4000, 0, 4.0, SCORES, 0.90)
    verdict = decide(Canary("7", 5.0, NOW - dt.timedelta(minutes=1)), champion, canary_arm, RULES, NOW, load_error)
    assert verdict.action == "roll_back" and reason in verdict.summary, verdict


def test_a_young_or_thin_step_holds() -> None:
    young = judge(arm(), age_min=10)
    assert young.action == "hold" and "held 10 of 30 min" in young.summary
    thin = judge(arm(requests=120))
    assert thin.action == "hold" and "120 canary and 4000 champion answers" in thin.summary


def test_psi_is_zero_for_one_distribution_and_grows_with_a_shift() -> None:
    assert psi(SCORES, SCORES) == pytest.approx(0.0, abs=1e-12)
    assert psi(SCORES[:2000], SCORES[2000:]) < 0.05 < psi(SCORES, SCORES + 0.05)


@pytest.mark.parametrize("steps", ["5,x", "50,25,100", "5,25", "100"])
def test_canary_steps_that_cannot_roll_out_stop_start_up_with_one_line(steps: str) -> None:
    with pytest.raises(ConfigError, match=r"^invalid setting GYRE_CANARY_STEPS: .*\(got ") as caught:
        load_settings(canary_steps=steps)
    assert "\n" not in str(caught.value)
