"""Deploy: build the fraud_scorer Bento for a champion version and record its tag on that model version.

Serving does not need a restart: the running endpoint follows the ``champion`` alias by itself. The Bento is
the shippable artifact of that version (what an image or another host runs). Building again for a version
that already has a Bento in the store reuses it, so a re-run changes nothing.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from gyre.config import Settings, get_settings
from gyre.registry import models

log = logging.getLogger(__name__)

BENTO_TAG = "gyre.bento"


def _bentoml(settings: Settings, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENTOML_HOME": str(settings.home / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "bentoml"), *args],
        cwd=settings.project_root / "bentos" / "fraud_scorer",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def bento_exists(tag: str, settings: Settings) -> bool:
    return _bentoml(settings, "get", tag, "-o", "json", timeout_s=120).returncode == 0


def build_for(version: str, settings: Settings | None = None) -> dict[str, str]:
    """``{"model": ..., "version": ..., "bento": tag, "built": "yes"|"reused"}`` for a champion version."""
    settings = settings or get_settings()
    name = settings.model_name
    tags = models.client().get_model_version(name, version).tags
    existing = tags.get(BENTO_TAG)
    if existing and bento_exists(existing, settings):
        log.info("version %s of %s already has Bento %s", version, name, existing)
        return {"model": name, "version": version, "bento": existing, "built": "reused"}
    done = _bentoml(settings, "build", "-f", "bentofile.yaml", ".", "--output", "tag")
    if done.returncode != 0:
        raise RuntimeError(f"bentoml build failed ({done.returncode}): {done.stderr[-2000:]}")
    tag = next((line.split("__tag__:", 1)[1].strip() for line in done.stdout.splitlines() if "__tag__:" in line), None)
    if not tag:
        raise RuntimeError(f"bentoml build printed no tag: {done.stdout[-500:]}")
    models.set_version_tags(name, version, {BENTO_TAG: tag})
    log.info("built Bento %s for version %s of %s", tag, version, name)
    return {"model": name, "version": version, "bento": tag, "built": "yes"}
