"""The MLflow model registry as Gyre uses it: versions carry lineage tags, aliases are the deployment.

``challenger`` points at the newest candidate until it is promoted, ``champion`` at what serves,
``previous-champion`` at what served before it (the rollback target). Stages are never used. Every alias move
is audited.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from gyre.registry import audit
from gyre.training.tracking import CARD_ARTIFACT, HOLDOUT_ARTIFACT, INPUTS_ARTIFACT, MODEL_ARTIFACT, tracking_uri

log = logging.getLogger(__name__)

CHALLENGER, CHAMPION, PREVIOUS = "challenger", "champion", "previous-champion"


class RollbackImpossible(RuntimeError):
    """There is no previous champion to go back to."""


def client() -> object:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


def version_of(name: str, alias: str) -> str | None:
    """The version an alias points at, or None when it is unset (or the model is not registered yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(name, alias).version
    except MlflowException:
        return None


def find_request(name: str, request_key: str) -> tuple[str, str | None] | None:
    """``(run_id, version or None)`` of a finished training run made for ``request_key``, if there is one."""
    import mlflow

    if "'" in request_key or "`" in request_key:
        raise ValueError(f"a request key cannot hold quotes: {request_key!r}")
    experiment = client().get_experiment_by_name(name)
    if experiment is None:
        return None
    runs = mlflow.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`gyre.request_key` = '{request_key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        output_format="list",
    )
    if not runs:
        return None
    run_id = runs[0].info.run_id
    versions = client().search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return run_id, (min(versions, key=lambda v: int(v.version)).version if versions else None)


def register(name: str, run_id: str) -> str:
    """Register the run's model (once: a second call returns the same version) and point ``challenger`` at it."""
    import mlflow

    existing = client().search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        version = min(existing, key=lambda v: int(v.version)).version
        log.info("run %s is already version %s of %s", run_id, version, name)
    else:
        tags = {k: v for k, v in client().get_run(run_id).data.tags.items() if k.startswith("gyre.")}
        mlflow.set_tracking_uri(tracking_uri())
        version = mlflow.register_model(f"runs:/{run_id}/{MODEL_ARTIFACT}", name, tags=tags).version
        card = client().download_artifacts(run_id, CARD_ARTIFACT)
        client().update_model_version(name, version, description=Path(card).read_text(encoding="utf-8"))
        log.info("registered %s version %s from run %s", name, version, run_id)
    before = version_of(name, CHALLENGER)
    if before != version:
        client().set_registered_model_alias(name, CHALLENGER, version)
        metrics = client().get_run(run_id).data.metrics
        audit.record(
            name,
            "challenger",
            f"version {version} registered from run {run_id}",
            CHALLENGER,
            before,
            version,
            {k: metrics[k] for k in ("test_pr_auc", "test_ece", "test_brier") if k in metrics},
        )
    return version


def set_version_tags(name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client().set_model_version_tag(name, version, key, value)


def promote(name: str, version: str, reason: str, metrics: dict[str, object]) -> None:
    """``champion`` -> version; the old champion stays reachable as ``previous-champion``."""
    old, old_previous = version_of(name, CHAMPION), version_of(name, PREVIOUS)
    if old == version:
        log.info("version %s already is the champion", version)
        return
    if old is not None:
        client().set_registered_model_alias(name, PREVIOUS, old)
        audit.record(name, "promote", f"version {old} stepped down for {version}", PREVIOUS, old_previous, old, metrics)
    client().set_registered_model_alias(name, CHAMPION, version)
    audit.record(name, "promote", reason, CHAMPION, old, version, metrics)
    if version_of(name, CHALLENGER) == version:  # else serving would shadow the champion against itself
        client().delete_registered_model_alias(name, CHALLENGER)
        audit.record(name, "promote", f"version {version} is the champion now", CHALLENGER, version, None)
    log.info("champion of %s: %s -> %s", name, old, version)


def reject(name: str, version: str, reason: str, metrics: dict[str, object]) -> None:
    """Production untouched; the reason is written down."""
    audit.record(name, "reject", reason, None, version_of(name, CHAMPION), version, metrics)
    log.info("version %s of %s rejected: %s", version, name, reason)


def rollback(name: str, reason: str = "manual rollback") -> tuple[str, str]:
    """Swap ``champion`` and ``previous-champion``; returns ``(from_version, to_version)``.

    The swap keeps the rolled-back version reachable, so a mistaken rollback is undone the same way.
    """
    current, previous = version_of(name, CHAMPION), version_of(name, PREVIOUS)
    if previous is None or current is None:
        raise RollbackImpossible(f"{name} has no previous champion to roll back to")
    client().set_registered_model_alias(name, CHAMPION, previous)
    client().set_registered_model_alias(name, PREVIOUS, current)
    audit.record(name, "rollback", reason, CHAMPION, current, previous)
    audit.record(name, "rollback", f"version {current} kept as the rollback target", PREVIOUS, previous, current)
    log.info("rolled %s back: champion %s -> %s", name, current, previous)
    return current, previous


@dataclass
class TrackedRun:
    """A training run's recorded facts: its input lists, frozen holdout and tags (lineage, parity verdict)."""

    run_id: str

    @cached_property
    def run_tags(self) -> dict[str, str]:
        return dict(client().get_run(self.run_id).data.tags)

    @cached_property
    def inputs(self) -> dict[str, object]:
        return json.loads(Path(client().download_artifacts(self.run_id, INPUTS_ARTIFACT)).read_text())

    @property
    def numeric(self) -> list[str]:
        return list(self.inputs["numeric"])

    @property
    def categorical(self) -> list[str]:
        return list(self.inputs["categorical"])

    @cached_property
    def holdout(self) -> pd.DataFrame:
        with tempfile.TemporaryDirectory() as tmp:
            return pd.read_parquet(client().download_artifacts(self.run_id, HOLDOUT_ARTIFACT, tmp))

    @cached_property
    def pipeline(self) -> object:
        import mlflow.sklearn

        mlflow.set_tracking_uri(tracking_uri())
        return mlflow.sklearn.load_model(f"runs:/{self.run_id}/{MODEL_ARTIFACT}")

    def proba(self, frame: pd.DataFrame) -> pd.Series:
        return self.pipeline.predict_proba(frame)[:, 1]


@dataclass
class LoadedVersion(TrackedRun):
    """A registered version: the run it came from, plus its name and number."""

    name: str = ""
    version: str = ""


def load(name: str, version: str) -> LoadedVersion:
    return LoadedVersion(client().get_model_version(name, version).run_id, name, version)


def onnx_for(name: str, alias: str = CHAMPION) -> tuple[str, Path, dict[str, object]]:
    """``(version, local ONNX file, inputs)`` of the version an alias points at: what serving loads."""
    from gyre.export.onnx import ONNX_ARTIFACT

    version = version_of(name, alias)
    if version is None:
        raise LookupError(f"{name} has no {alias!r} alias")
    loaded = load(name, version)
    return version, Path(client().download_artifacts(loaded.run_id, ONNX_ARTIFACT)), loaded.inputs
