"""The registry story on a real MLflow server and Postgres: promote, honestly reject, stay idempotent, roll back.

Models are trained on the ingest generator's transactions (feature-service-shaped frames), a week each. In
the second week fraud moves to account takeover (the generator's ``concept_drift``), which is why a fresh
model is worth a promotion.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest

from gyre.config import load_settings
from gyre.registry import audit, models
from gyre.training import flow
from gyre.training.spec import FRAUD
from gyre.training.synthetic import fraud_frame
from gyre.training.tracking import Lineage

pytestmark = pytest.mark.integration

MONDAY = dt.date(2026, 3, 2)
LATER = MONDAY + dt.timedelta(days=7)


def second_week():
    return fraud_frame(LATER, 7, scenario="concept_drift")


def lineage(key: str, first: dt.date, days: int) -> Lineage:
    return Lineage(
        request_key=key,
        feature_service="fraud_model_v1",
        window_start=first.isoformat(),
        window_end=(first + dt.timedelta(days=days)).isoformat(),
        data_digest=f"sha256:test-{key}",
        validation="test frame: generator output, no validation run",
        git_commit="test",
    )


@pytest.fixture(scope="module")
def settings(mlflow_tracking_uri: str, database_url: str):
    return load_settings(model_name=f"fraud_test_{uuid.uuid4().hex[:8]}", training_min_rows=1000)


@pytest.fixture(scope="module")
def story(settings):
    """Three requests in a row: boosted trees on one week, on the next week, then a linear model on that week."""
    first = flow.run_all(fraud_frame(MONDAY, 7), lineage("req-1", MONDAY, 7), FRAUD, settings)
    second = flow.run_all(second_week(), lineage("req-2", LATER, 7), FRAUD, settings)
    linear = settings.model_copy(update={"training_estimator": "logistic_regression"})
    third = flow.run_all(second_week(), lineage("req-3", LATER, 7), FRAUD, linear)
    return first, second, third


def test_first_model_is_promoted_over_the_floor(story, settings) -> None:
    first, _, _ = story
    assert first.decision.promote, first.decision.summary
    assert any("first model" in reason and "floor" in reason for reason in first.decision.reasons)
    assert first.decision.metrics["challenger_pr_auc"] >= settings.gate_min_pr_auc


def test_a_model_on_fresher_data_that_beats_the_margin_is_promoted(story, settings) -> None:
    """The champion, trained a week earlier, misses the fraud that moved since; the fresh model wins."""
    first, second, _ = story
    assert second.decision.promote, second.decision.summary
    assert models.version_of(settings.model_name, models.PREVIOUS) == first.version
    gain = second.decision.metrics["challenger_pr_auc"] - second.decision.metrics["champion_pr_auc"]
    assert gain >= settings.gate_pr_auc_margin
    # each promotion cleared `challenger`, so serving never shadows the champion against itself
    cleared = [m for m in audit.history(settings.model_name) if m.alias == models.CHALLENGER and m.to_version is None]
    assert sorted(m.from_version for m in cleared) == sorted([first.version, second.version])


def test_a_weaker_challenger_is_rejected_and_production_is_untouched(story, settings) -> None:
    """A linear model on the same week cannot see the amount x night x foreign interactions the trees use."""
    _, second, third = story
    assert not third.decision.promote, third.decision.summary
    assert any(r.startswith("PR-AUC") for r in third.decision.reasons), third.decision.reasons
    gain = third.decision.metrics["challenger_pr_auc"] - third.decision.metrics["champion_pr_auc"]
    assert gain < settings.gate_pr_auc_margin
    assert models.version_of(settings.model_name, models.CHAMPION) == second.version
    assert models.version_of(settings.model_name, models.CHALLENGER) == third.version


def test_onnx_parity_holds_and_serving_resolves_the_champion_to_its_onnx(story, settings) -> None:
    from gyre.export.onnx import OnnxScorer

    for outcome in story:
        assert outcome.parity["parity"] == "pass"
        assert outcome.parity["max_abs_diff"] <= 1e-5
    version, path, inputs = models.onnx_for(settings.model_name, models.CHAMPION)
    loaded = models.load(settings.model_name, version)
    rows = loaded.holdout.head(200)
    onnx = OnnxScorer(path, inputs["numeric"], inputs["categorical"]).proba(rows)
    assert np.max(np.abs(onnx - loaded.proba(rows))) <= 1e-5


def test_versions_carry_lineage_and_a_model_card(story, settings) -> None:
    _, second, _ = story
    version = models.client().get_model_version(settings.model_name, second.version)
    assert version.tags["gyre.request_key"] == "req-2"
    assert version.tags["gyre.feature_service"] == "fraud_model_v1"
    assert version.tags["gyre.data_digest"].startswith("sha256:")
    assert version.tags["gyre.gate"].startswith("promote")
    assert "# Model card" in version.description and "Decision threshold" in version.description
    artifacts = {a.path for a in models.client().list_artifacts(second.run_id, "plots")}
    assert artifacts == {
        f"plots/{n}.png" for n in ("pr_curve", "calibration", "confusion_matrix", "feature_importance")
    }


def test_rerunning_a_request_creates_no_second_version(story, settings) -> None:
    _, second, _ = story
    before = len(models.client().search_model_versions(f"name = '{settings.model_name}'"))
    again = flow.run_all(second_week(), lineage("req-2", LATER, 7), FRAUD, settings)
    assert (again.run_id, again.version) == (second.run_id, second.version)
    assert len(models.client().search_model_versions(f"name = '{settings.model_name}'")) == before


def test_rollback_restores_the_previous_champion_and_history_shows_every_move(story, settings) -> None:
    from click.testing import CliRunner

    from gyre.registry.cli import model

    first, second, third = story
    runner = CliRunner()
    result = runner.invoke(model, ["rollback", "--name", settings.model_name, "--reason", "test rollback"])
    assert result.exit_code == 0, result.output
    assert models.version_of(settings.model_name, models.CHAMPION) == first.version
    assert models.version_of(settings.model_name, models.PREVIOUS) == second.version
    moves = audit.history(settings.model_name)
    assert [m.action for m in moves][:2] == ["rollback", "rollback"]
    assert {m.action for m in moves} == {"challenger", "promote", "reject", "rollback"}
    rejected = next(m for m in moves if m.action == "reject")
    assert rejected.to_version == third.version and "PR-AUC" in rejected.reason
    shown = runner.invoke(model, ["history", "--name", settings.model_name])
    assert shown.exit_code == 0 and "test rollback" in shown.output
    # Rolling back again undoes the rollback.
    runner.invoke(model, ["rollback", "--name", settings.model_name])
    assert models.version_of(settings.model_name, models.CHAMPION) == second.version
