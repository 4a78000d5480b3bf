"""Record a trained model in MLflow: parameters, metrics, signature, plots, model card, holdout and lineage.

Lineage tags (``gyre.*``) make every version answer "what made you": data snapshot digest, validation
result, feature service, training window, code commit and the request that asked for it. The test part is
frozen as ``holdout/holdout.parquet`` with its digest, so the gate compares models on exactly those rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from gyre.config import Settings, get_settings
from gyre.training.report import model_card, plots
from gyre.training.train import TrainedModel

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
HOLDOUT_ARTIFACT = "holdout/holdout.parquet"
INPUTS_ARTIFACT = "model_inputs.json"
CARD_ARTIFACT = "model_card.md"
# What loading the pipeline needs; passing it explicitly saves MLflow 5-7 s of inference per model.
_REQUIREMENTS = ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "skops")
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"  # MLflow's kinds: this one and "genai_development"


@dataclass(frozen=True)
class Lineage:
    """Where a model comes from; every field becomes a ``gyre.<field>`` tag on the run and the version."""

    request_key: str
    feature_service: str
    window_start: str
    window_end: str
    data_digest: str
    validation: str
    git_commit: str

    def tags(self) -> dict[str, str]:
        return {f"gyre.{key}": value for key, value in self.__dict__.items()}


def _requirements(estimator: str) -> tuple[str, ...]:
    """The packages loading the pipeline needs (a LightGBM pipeline also needs gyre, for its classifier)."""
    return (*_REQUIREMENTS, "lightgbm") if estimator == "lightgbm" else _REQUIREMENTS


def git_commit(root: Path | None = None) -> str:
    """The code commit, with ``-dirty`` when the working tree differs from it; ``unknown`` outside git."""
    root = root or get_settings().project_root
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True)
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def frame_digest(frame: pd.DataFrame) -> str:
    """Content digest of a frame's rows and columns, independent of file format or writer metadata."""
    sha = hashlib.sha256(",".join(frame.columns).encode())
    sha.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return f"sha256:{sha.hexdigest()}"


def _own_types(pipeline: object) -> list[str]:
    """The types skops does not trust by default in a pipeline built here (calibrators, splitters, dtypes)."""
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))


def tracking_uri() -> str:
    """The MLflow server's URI, with this process's credentials for it put where MLflow's client reads them.

    The server requires a login (basic auth) for every call: every client here asks for the URI first.
    """
    from gyre.services.endpoints import mlflow_client_env, mlflow_url

    os.environ.update(mlflow_client_env())
    return mlflow_url()


def use_experiment(name: str) -> Any:
    """``mlflow.set_experiment(name)`` on the tracking server, the experiment tagged as model training
    (``mlflow.experimentKind``), so MLflow 3 treats it as one and not as a GenAI app's traces."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    experiment = mlflow.set_experiment(name)
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
        mlflow.set_experiment_tag(EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    return experiment


def log_training(model: TrainedModel, lineage: Lineage, settings: Settings | None = None) -> str:
    """One MLflow run holding everything about ``model``; returns the run id."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    settings = settings or get_settings()
    use_experiment(settings.model_name)
    holdout = model.holdout()
    test_inputs = model.inputs(model.split.test)
    with (
        mlflow.start_run(run_name=f"train {lineage.window_start}..{lineage.window_end}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp)
        mlflow.set_tags(
            {**lineage.tags(), "gyre.holdout_digest": frame_digest(holdout), "gyre.estimator": model.estimator}
        )
        mlflow.log_params(
            {
                "estimator": model.estimator,
                **{f"model__{k}": v for k, v in model.pipeline.named_steps["model"].estimator.get_params().items()},
                "calibration": "sigmoid, 3 time-ordered folds",
                "features": len(model.features),
                "cost_missed_fraud": settings.cost_missed_fraud,
                "cost_false_alarm": settings.cost_false_alarm,
                "recall_at_fpr_target": settings.recall_at_fpr,
                **model.split.bounds(model.spec.timestamp),
            }
        )
        mlflow.log_metrics(
            {
                **model.validation.as_dict("val_"),
                **model.test.as_dict("test_"),
                "threshold": model.threshold.value,
                "val_expected_cost": model.threshold.expected_cost,
                "train_rows": len(model.split.train),
                "fit_seconds": model.fit_seconds,
            }
        )
        for path in plots(
            model.split.test[model.spec.label].to_numpy(int),
            model.pipeline.predict_proba(test_inputs)[:, 1],
            model.threshold,
            model.importance,
            out / "plots",
        ).values():
            mlflow.log_artifact(str(path), "plots")
        card = model_card(
            settings.model_name,
            model.estimator,
            model.features,
            {key: f"`{value}`" for key, value in lineage.tags().items()},
            model.split.bounds(model.spec.timestamp),
            model.validation,
            model.test,
            model.threshold,
            model.importance,
        )
        mlflow.log_text(card, CARD_ARTIFACT)
        inputs = {"numeric": model.numeric, "categorical": model.categorical, "threshold": model.threshold.value}
        mlflow.log_text(json.dumps(inputs, indent=2), INPUTS_ARTIFACT)
        holdout_path = out / "holdout.parquet"
        holdout.to_parquet(holdout_path, index=False)
        mlflow.log_artifact(str(holdout_path), str(Path(HOLDOUT_ARTIFACT).parent))
        example = test_inputs.head(5)
        mlflow.sklearn.log_model(
            model.pipeline,
            name=MODEL_ARTIFACT,
            signature=infer_signature(example, model.pipeline.predict_proba(example)),
            input_example=example,
            pip_requirements=[f"{package}=={version(package)}" for package in _requirements(model.estimator)],
            skops_trusted_types=_own_types(model.pipeline),
        )
        log.info("logged run %s (test PR-AUC %.4f)", run.info.run_id, model.test.pr_auc)
        return run.info.run_id
