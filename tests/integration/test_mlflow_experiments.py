"""The loop's MLflow experiments are model training, not GenAI apps, on the real tracking server: each is tagged
``mlflow.experimentKind`` when the loop first uses it, and so is one an older platform created without it."""

from __future__ import annotations

import uuid

import pytest

from gyre.batch.tracking import batch_run
from gyre.registry.models import client
from gyre.training.tracking import EXPERIMENT_KIND_TAG, MODEL_TRAINING, use_experiment

pytestmark = pytest.mark.integration


def kind(name: str) -> str | None:
    return client().get_experiment_by_name(name).tags.get(EXPERIMENT_KIND_TAG)


def test_an_experiment_the_loop_creates_is_tagged_as_model_training(mlflow_tracking_uri: str) -> None:
    model = f"kind_test_{uuid.uuid4().hex[:8]}"
    with batch_run(model, "batch 2026-03-02", {"gyre.kind": "test"}):
        pass
    assert kind(f"{model}-batch") == MODEL_TRAINING == "custom_model_development"


def test_an_untagged_experiment_is_tagged_on_its_next_use(mlflow_tracking_uri: str) -> None:
    name = f"kind_test_{uuid.uuid4().hex[:8]}"
    client().create_experiment(name)
    assert kind(name) is None
    use_experiment(name)
    use_experiment(name)  # already tagged: nothing to change
    assert kind(name) == MODEL_TRAINING
