"""The team deployment file validates, requires its secrets, and publishes ports on loopback only."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.airflow.yml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(COMPOSE, tmp_path / COMPOSE.name)
    return tmp_path


def compose_config(project: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose (Debian package) is needed to check the file; `make install` installs it"
    # Only the project's .env speaks: this process may hold the same names (MLflow's client login, say).
    env = {k: v for k, v in os.environ.items() if k not in _env_names()}
    return subprocess.run(
        [binary, "-f", COMPOSE.name, "config"], cwd=project, capture_output=True, text=True, check=False, env=env
    )


def _env_names() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if "=" in line and not line.lstrip().startswith("#")}


def test_the_file_validates_with_the_example_env(project: Path) -> None:
    shutil.copy(ROOT / ".env.example", project / ".env")
    result = compose_config(project)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert {
        "postgres",
        "redis",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "mlflow",
        "feature-server",
        "serving",
    } <= set(config["services"])
    published = [port for service in config["services"].values() for port in service.get("ports", [])]
    assert published and all(str(port).startswith("127.0.0.1:") for port in published), published
    worker = config["services"]["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports"), "workers must scale with --scale"
    assert config["services"]["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name, service in config["services"].items():
        if name.startswith("airflow-") and name != "airflow-init":
            assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
            assert "healthcheck" in service, f"{name} has no healthcheck"


@pytest.mark.parametrize(
    "secret",
    [
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
        "GYRE_FEATURE_SERVER_API_KEY",
    ],
)
def test_each_secret_is_required_not_defaulted(project: Path, secret: str) -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    (project / ".env").write_text("\n".join(line for line in lines if not line.startswith(secret + "=")))
    result = compose_config(project)
    assert result.returncode != 0
    assert f"set {secret} in .env" in result.stderr


def test_pgvector_image_is_new_enough() -> None:
    image = yaml.safe_load(COMPOSE.read_text())["services"]["postgres"]["image"]
    version = tuple(int(part) for part in image.split(":")[1].split("-")[0].split("."))
    assert version >= (0, 8, 2), image
