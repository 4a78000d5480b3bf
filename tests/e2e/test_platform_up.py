"""`gyre up` brings the whole platform up healthy, refuses a second start, stops without leftovers, and
keeps its data across a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import private_stack_env

pytestmark = pytest.mark.stack

GYRE = str(Path(sys.executable).parent / "gyre")


def gyre(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GYRE, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stack_pids(home: Path) -> list[int]:
    state = json.loads((home / "run" / "state.json").read_text())
    return [state["supervisor_pid"], *(pid for record in state["services"] for pid in record["pids"])]


def secret(home: Path, name: str) -> str:
    line = next(line for line in (home / "secrets.env").read_text().splitlines() if line.startswith(name + "="))
    return line.split("=", 1)[1]


@pytest.fixture(scope="module")
def stack_env() -> Iterator[dict[str, str]]:
    env = private_stack_env("gyre-stack-")
    yield env
    gyre(env, "down")


def test_up_reaches_all_healthy_then_down_leaves_nothing(stack_env: dict[str, str]) -> None:
    home = Path(stack_env["GYRE_HOME"])
    started = time.monotonic()
    result = gyre(stack_env, "up", "--detach")
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"first start to all healthy: {time.monotonic() - started:.1f} s")
    assert "First start: Airflow login admin /" in result.stderr

    airflow = f"http://127.0.0.1:{stack_env['GYRE_AIRFLOW_PORT']}"
    health = httpx.get(f"{airflow}/api/v2/monitor/health", timeout=10).json()
    assert {health[k]["status"] for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == {"healthy"}
    assert httpx.get(f"http://127.0.0.1:{stack_env['GYRE_MLFLOW_PORT']}/health", timeout=10).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{stack_env['GYRE_FEAST_PORT']}/health", timeout=10).status_code == 200

    # The admin login is generated: the default password is refused, the generated one accepted.
    token = httpx.post(f"{airflow}/auth/token", json={"username": "admin", "password": "admin"}, timeout=10)
    assert token.status_code == 401
    password = secret(home, "AIRFLOW_ADMIN_PASSWORD")
    token = httpx.post(f"{airflow}/auth/token", json={"username": "admin", "password": password}, timeout=10)
    assert token.status_code in (200, 201), token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    plugins = httpx.get(f"{airflow}/api/v2/plugins", headers=headers, timeout=10).json()["plugins"]
    links = next(plugin for plugin in plugins if plugin["name"] == "gyre_links")
    assert links["external_views"][0]["href"] == f"http://127.0.0.1:{stack_env['GYRE_MLFLOW_PORT']}"
    assert (home / "secrets.env").stat().st_mode & 0o777 == 0o600

    status = gyre(stack_env, "status")
    assert status.returncode == 0, status.stderr
    assert status.stderr.count("healthy") >= 4 and "unhealthy" not in status.stderr

    again = gyre(stack_env, "up", "--detach")
    assert again.returncode == 1
    assert "already running" in again.stderr

    # Data written now must survive the restart below.
    postgres = f"postgresql://gyre:{secret(home, 'POSTGRES_PASSWORD')}@127.0.0.1:{stack_env['GYRE_POSTGRES_PORT']}/gyre"
    with psycopg.connect(postgres) as conn:
        conn.execute("create table if not exists survives (note text)")
        conn.execute("insert into survives values ('written before restart')")

    pids = stack_pids(home)
    assert gyre(stack_env, "down").returncode == 0
    assert [pid for pid in pids if alive(pid)] == []
    assert gyre(stack_env, "status").returncode == 1


def test_second_start_in_the_foreground_keeps_data_and_stops_on_ctrl_c(stack_env: dict[str, str]) -> None:
    """`make up` runs `gyre up` in the foreground: Ctrl-C (SIGINT) must stop every service it started."""
    home = Path(stack_env["GYRE_HOME"])
    started = time.monotonic()
    supervisor = subprocess.Popen(
        [GYRE, "up"],
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    state_file = home / "run" / "state.json"
    try:
        while not (state_file.exists() and json.loads(state_file.read_text()).get("ready")):
            assert supervisor.poll() is None, supervisor.stdout.read()
            # A hang guard, not a speed check: bench/startup.py measures how long a start takes.
            assert time.monotonic() - started < 300, "second start not healthy after 300 s"
            time.sleep(0.5)
        print(f"second start to all healthy: {time.monotonic() - started:.1f} s")

        password = secret(home, "POSTGRES_PASSWORD")
        postgres = f"postgresql://gyre:{password}@127.0.0.1:{stack_env['GYRE_POSTGRES_PORT']}/gyre"
        with psycopg.connect(postgres) as conn:
            assert conn.execute("select note from survives").fetchall() == [("written before restart",)]

        pids = stack_pids(home)
    finally:
        supervisor.send_signal(signal.SIGINT)  # also when an assertion failed: the next test needs the ports
        output, _ = supervisor.communicate(timeout=180)
    assert supervisor.returncode == 0, output
    assert "First start" not in output
    assert "all services stopped" in output
    assert [pid for pid in pids if alive(pid)] == []
    assert not state_file.exists()


def test_a_port_in_use_is_named_with_its_setting(stack_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(stack_env["GYRE_AIRFLOW_PORT"])))
        squatter.listen()
        result = gyre(stack_env, "up", "--detach", timeout=120)
    assert result.returncode == 1
    assert f"port {stack_env['GYRE_AIRFLOW_PORT']}" in result.stderr
    assert "GYRE_AIRFLOW_PORT" in result.stderr
