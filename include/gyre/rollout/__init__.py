"""Rollouts beyond the alias swap: what a version that passed the gate does under ``GYRE_ROLLOUT_MODE``."""

from __future__ import annotations

from typing import Any

from gyre.config import Settings, get_settings


def swaps(settings: Settings | None = None) -> bool:
    """Whether a version that passed the gate becomes the champion at once: with ``GYRE_ROLLOUT_MODE=swap``, and in
    every mode while there is no champion (no traffic is answered yet for a canary or a shadow to be judged on)."""
    from gyre.registry.models import CHAMPION, version_of

    settings = settings or get_settings()
    return settings.rollout_mode == "swap" or version_of(settings.model_name, CHAMPION) is None


def go_live(version: str, summary: str, metrics: dict[str, Any], settings: Settings | None = None) -> str:
    """``canary``: the version goes on the first canary step; ``shadow``: it stays ``challenger``, scored in shadow
    on every request and answering none, and the audit says so. ``swap`` is the train DAG's ``promote``."""
    settings = settings or get_settings()
    if settings.rollout_mode == "canary":
        from gyre.rollout.canary import start

        return start(version, summary, metrics, settings)
    if settings.rollout_mode == "shadow":
        from gyre.registry import audit
        from gyre.registry.models import CHALLENGER

        reason = f"passed the gate; stays challenger, scored in shadow only (GYRE_ROLLOUT_MODE=shadow): {summary}"
        audit.record(settings.model_name, "shadow", reason, CHALLENGER, None, version, metrics)
        return f"{settings.model_name} version {version} {reason}"
    raise ValueError("with GYRE_ROLLOUT_MODE=swap the champion moves at once (models.promote)")
