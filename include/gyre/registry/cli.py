"""`gyre model`: the audit of alias moves, and a one-command rollback to the previous champion."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click


@click.group()
def model() -> None:
    """The registered model: history of its alias moves, rollback."""


@model.command()
@click.option("--name", default=None, help="registered model (default: GYRE_MODEL_NAME)")
@click.option("--limit", default=20, show_default=True)
def history(name: str | None, limit: int) -> None:
    """Every alias move, newest first: when, which versions, metrics, reason."""
    from rich.console import Console
    from rich.table import Table

    from gyre.config import get_settings
    from gyre.registry.audit import history as moves

    name = name or get_settings().model_name
    table = Table(title=f"{name}: alias moves")
    for column in ("when (UTC)", "action", "alias", "from", "to", "reason", "metrics"):
        table.add_column(column, overflow="fold")
    for move in moves(name, limit):
        metrics = {k: round(v, 4) if isinstance(v, float) else v for k, v in move.metrics.items() if "pr_auc" in k}
        table.add_row(
            f"{move.moved_at:%Y-%m-%d %H:%M:%S}",
            move.action,
            move.alias or "",
            move.from_version or "",
            move.to_version or "",
            move.reason,
            json.dumps(metrics) if metrics else "",
        )
    Console(width=200).print(table)


@model.command()
@click.option("--name", default=None, help="registered model (default: GYRE_MODEL_NAME)")
@click.option("--reason", default="manual rollback", show_default=True)
def rollback(name: str | None, reason: str) -> None:
    """Point `champion` back at `previous-champion` (and keep the rolled-back version as the new previous)."""
    from gyre.config import get_settings
    from gyre.registry.models import RollbackImpossible
    from gyre.registry.models import rollback as roll

    name = name or get_settings().model_name
    try:
        current, previous = roll(name, reason)
    except RollbackImpossible as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{name}: champion {current} -> {previous}")


@model.command("training-set")
@click.option("--end", "end", type=click.DateTime(["%Y-%m-%d"]), required=True, help="first day after the window")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def training_set(end: datetime, out: Path) -> None:
    """Write the window's training set (spine + Feast features) to Parquet; needs the running stack."""
    from gyre.config import get_settings
    from gyre.training.dataset import TrainingWindow, build_training_set

    settings = get_settings()
    as_of = end.replace(tzinfo=UTC) + timedelta(days=settings.training_label_delay_days)
    frame = build_training_set(TrainingWindow.ending(as_of, settings))
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    click.echo(f"{out}: {len(frame)} rows")


@model.command()
@click.option("--training-set", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def train(source: Path, out: Path) -> None:
    """Train from a Parquet training set, outside Airflow and the registry: metrics, card, plots, ONNX."""
    import pandas as pd

    from gyre.config import get_settings
    from gyre.export.onnx import OnnxScorer, convert, parity
    from gyre.training.report import model_card, plots
    from gyre.training.spec import FRAUD
    from gyre.training.tracking import frame_digest, git_commit
    from gyre.training.train import fit

    settings = get_settings()
    frame = pd.read_parquet(source)
    trained = fit(frame, FRAUD, settings)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(convert(trained.pipeline, trained.numeric, trained.categorical))
    scorer = OnnxScorer(out / "model.onnx", trained.numeric, trained.categorical)
    check = parity(trained.pipeline, scorer, trained.inputs(trained.split.test), settings.onnx_parity_tolerance)
    y_test = trained.split.test[FRAUD.label].to_numpy(int)
    plots(y_test, trained.score(trained.split.test).to_numpy(), trained.threshold, trained.importance, out / "plots")
    lineage = {"data_digest": frame_digest(frame), "git_commit": git_commit(settings.project_root)}
    bounds = trained.split.bounds(FRAUD.timestamp)
    card = model_card(
        settings.model_name,
        trained.estimator,
        trained.features,
        lineage,
        bounds,
        trained.validation,
        trained.test,
        trained.threshold,
        trained.importance,
    )
    (out / "model_card.md").write_text(card, encoding="utf-8")
    metrics = {
        **trained.validation.as_dict("val_"),
        **trained.test.as_dict("test_"),
        "threshold": trained.threshold.value,
        "onnx_parity_max_abs_diff": check.max_abs_diff,
        "onnx_parity_ok": check.ok,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    click.echo(f"test PR-AUC {trained.test.pr_auc:.4f}, ONNX parity max |diff| {check.max_abs_diff:.2g} -> {out}")
