"""`gyre model`: the audit of alias moves, and a one-command rollback to the previous champion."""

from __future__ import annotations

import json

import click

from gyre.config import get_settings


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
    from gyre.registry.models import RollbackImpossible
    from gyre.registry.models import rollback as roll

    name = name or get_settings().model_name
    try:
        current, previous = roll(name, reason)
    except RollbackImpossible as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{name}: champion {current} -> {previous}")
