"""The training loop as plain steps (the DAG wires them; tests and `gyre model train` call them directly).

Each step takes and returns references (file paths, run ids, versions) and is safe to repeat: a request
already trained reuses its run, a run already registered reuses its version, so re-running the same
request never creates a second model version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gyre.config import Settings, get_settings
from gyre.registry import models
from gyre.registry.gate import GateDecision, decide
from gyre.training.spec import FRAUD, TrainingSpec
from gyre.training.tracking import Lineage, log_training
from gyre.training.train import fit

log = logging.getLogger(__name__)


def train_and_track(
    frame: pd.DataFrame | Path, lineage: Lineage, spec: TrainingSpec = FRAUD, settings: Settings | None = None
) -> str:
    """Run id of the model trained for ``lineage.request_key``: found if it exists, trained and logged if not."""
    settings = settings or get_settings()
    found = models.find_request(settings.model_name, lineage.request_key)
    if found is not None:
        log.info("request %s was already trained in run %s: reusing it", lineage.request_key, found[0])
        return found[0]
    if isinstance(frame, Path):
        frame = pd.read_parquet(frame)
    return log_training(fit(frame, spec, settings), lineage, settings)


def export(run_id: str, spec: TrainingSpec = FRAUD, settings: Settings | None = None) -> dict[str, object]:
    from gyre.export.step import export_run

    return export_run(run_id, spec.label, settings)


def register(run_id: str, settings: Settings | None = None) -> str:
    return models.register((settings or get_settings()).model_name, run_id)


def gate(version: str, spec: TrainingSpec = FRAUD, settings: Settings | None = None) -> GateDecision:
    """Judge ``version`` against the current champion; the verdict is also written on the version's tags."""
    settings = settings or get_settings()
    name = settings.model_name
    champion_version = models.version_of(name, models.CHAMPION)
    if champion_version == version:
        return GateDecision(True, [f"version {version} already is the champion"])
    champion = models.load(name, champion_version) if champion_version else None
    decision = decide(models.load(name, version), champion, spec, settings)
    models.set_version_tags(name, version, {"gyre.gate": decision.summary[:4900]})
    return decision


def promote(version: str, decision: GateDecision, settings: Settings | None = None) -> None:
    models.promote((settings or get_settings()).model_name, version, decision.summary, decision.metrics)


def reject(version: str, decision: GateDecision, settings: Settings | None = None) -> None:
    models.reject((settings or get_settings()).model_name, version, decision.summary, decision.metrics)


@dataclass(frozen=True)
class Outcome:
    run_id: str
    version: str
    parity: dict[str, object]
    decision: GateDecision


def run_all(
    frame: pd.DataFrame | Path, lineage: Lineage, spec: TrainingSpec = FRAUD, settings: Settings | None = None
) -> Outcome:
    """Every step in order, outside Airflow: train, export, register, gate, then promote or reject."""
    run_id = train_and_track(frame, lineage, spec, settings)
    parity = export(run_id, spec, settings)
    version = register(run_id, settings)
    decision = gate(version, spec, settings)
    (promote if decision.promote else reject)(version, decision, settings)
    return Outcome(run_id, version, parity, decision)
