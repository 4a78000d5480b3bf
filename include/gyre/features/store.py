"""The Feast store, configured from Gyre's Settings.

``feature_repo/feature_store.yaml`` holds no addresses or secrets, only ``${VAR}`` references that Feast
expands from the environment when it reads the file. This module is the one place that fills those variables
from Settings (embedded or external Postgres and Redis), for the SDK in this process and for the ``feast``
command-line processes (apply, serve) Gyre starts.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from gyre.config import Settings, get_settings
from gyre.services.endpoints import database_url, redis_url

if TYPE_CHECKING:
    from feast import FeatureStore

PROJECT = "gyre"


def repo_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).project_root / "feature_repo"


def feast_env(settings: Settings | None = None) -> dict[str, str]:
    """The variables ``feature_store.yaml`` references, resolved from Settings (they contain passwords)."""
    settings = settings or get_settings()
    pg = urlsplit(database_url(settings))
    query = parse_qs(pg.query)
    rd = urlsplit(redis_url(settings))
    return {
        "FEAST_REGISTRY_URL": database_url(settings),
        "FEAST_PG_HOST": pg.hostname or "127.0.0.1",
        "FEAST_PG_PORT": str(pg.port or 5432),
        "FEAST_PG_DATABASE": pg.path.lstrip("/"),
        "FEAST_PG_USER": unquote(pg.username or ""),
        "FEAST_PG_PASSWORD": unquote(pg.password or ""),
        # The embedded server speaks no TLS; an external one says what it wants in its URL (default: prefer).
        "FEAST_PG_SSLMODE": query.get("sslmode", ["disable" if settings.database_url is None else "prefer"])[0],
        "FEAST_REDIS_ADDRESS": f"{rd.hostname}:{rd.port or 6379}",
        "FEAST_REDIS_PASSWORD": unquote(rd.password or ""),
        "FEAST_REDIS_DB": (rd.path.lstrip("/") or "0"),
    }


def export_env(settings: Settings | None = None) -> None:
    """Put the variables into this process's environment, where Feast's yaml loader reads them."""
    os.environ.update(feast_env(settings))


def _feast_without_torch() -> None:
    """Feast 0.67 imports torch whenever it is installed (``feast.torch_wrapper``), for tensor conversions this
    platform never asks of it: seconds and hundreds of MB in every process that reads features, the scoring
    workers first. Unless torch is loaded already, Feast is given a wrapper that reports it absent."""
    if "torch" in sys.modules or "feast.torch_wrapper" in sys.modules:
        return
    wrapper = types.ModuleType("feast.torch_wrapper", "torch withheld from Feast (gyre.features.store)")
    wrapper.TORCH_AVAILABLE = False  # type: ignore[attr-defined]

    def get_torch() -> None:
        raise ImportError("torch is withheld from Feast in this process (gyre.features.store)")

    wrapper.get_torch = get_torch  # type: ignore[attr-defined]
    sys.modules[wrapper.__name__] = wrapper


@functools.cache
def _cached_store(path: str) -> FeatureStore:
    _feast_without_torch()
    from feast import FeatureStore

    return FeatureStore(repo_path=path)


def feature_store(settings: Settings | None = None, fresh: bool = False) -> FeatureStore:
    """The FeatureStore of ``feature_repo/`` with its environment set; one per process unless ``fresh``."""
    settings = settings or get_settings()
    export_env(settings)
    path = str(repo_path(settings))
    if fresh:
        _cached_store.cache_clear()
    return _cached_store(path)


def feast_command(*args: str) -> list[str]:
    """argv of the ``feast`` CLI from this environment, pointed at the feature repo."""
    return [str(Path(sys.executable).parent / "feast"), "--chdir", str(repo_path()), *args]


def definitions_digest(settings: Settings | None = None) -> str:
    """Content digest of the definitions (``*.py`` and ``feature_store.yaml``): what `feast apply` would change."""
    root = repo_path(settings)
    sha = hashlib.sha256()
    for path in sorted([*root.glob("*.py"), root / "feature_store.yaml"]):
        sha.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sha256:{sha.hexdigest()}"


def apply_definitions(settings: Settings | None = None) -> None:
    """Run ``feast apply`` on the repo; its output is kept from logs only on failure, without the environment."""
    settings = settings or get_settings()
    env = {**os.environ, **feast_env(settings)}
    done = subprocess.run(feast_command("apply"), env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"feast apply failed ({done.returncode}): {done.stderr[-2000:]}")
    _cached_store.cache_clear()
