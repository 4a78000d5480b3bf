"""Settings: invalid values stop start-up with one line naming the variable; secrets never print."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gyre.config import ConfigError, load_settings
from gyre.services.credentials import load_or_create

GYRE = str(Path(sys.executable).parent / "gyre")


def test_an_invalid_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GYRE_AIRFLOW_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("invalid setting GYRE_AIRFLOW_PORT:")
    assert "'eighty'" in message


def test_an_out_of_range_port_says_what_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GYRE_MLFLOW_PORT", "80")
    with pytest.raises(ConfigError, match=r"GYRE_MLFLOW_PORT: .*greater than or equal to 1024"):
        load_settings()


def test_the_cli_stops_with_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GYRE_HOME": str(tmp_path), "GYRE_AIRFLOW_PARALLELISM": "0"}
    result = subprocess.run([GYRE, "status"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: invalid setting GYRE_AIRFLOW_PARALLELISM: Input should be greater than or equal to 1 (got '0')"
    ]


def test_secret_values_never_appear_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GYRE_DATABASE_URL", "postgresql://u:hunter2-secret@db.internal/gyre")
    monkeypatch.setenv("GYRE_ANTHROPIC_API_KEY", "sk-test-hunter2")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    monkeypatch.setenv("GYRE_REDIS_PORT", "not-a-port")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)


def test_credentials_are_generated_once_private_and_hidden(tmp_path: Path) -> None:
    first, created = load_or_create(tmp_path)
    again, created_again = load_or_create(tmp_path)
    assert created and not created_again
    assert first.postgres_password == again.postgres_password
    assert first.airflow_admin_password != "admin" and len(first.airflow_admin_password) >= 12
    assert (tmp_path / "secrets.env").stat().st_mode & 0o777 == 0o600
    assert first.redis_password not in repr(first)


def test_a_missing_credential_is_added_without_rotating_the_others(tmp_path: Path) -> None:
    first, _ = load_or_create(tmp_path)
    path = tmp_path / "secrets.env"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "SERVING_API_KEY" not in line))
    again, created = load_or_create(tmp_path)
    assert created
    assert again.postgres_password == first.postgres_password
    assert again.serving_api_key and again.serving_api_key != first.serving_api_key
