"""`gyre up` brings the whole platform up healthy, refuses a second start, stops without leftovers, and
keeps its data across a restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg
import pytest
import redis

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


def test_up_reaches_all_healthy(stack_env: dict[str, str]) -> None:
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
    # The Assets graph draws the loop's lineage: the DAGs, once parsed, joined through their assets.
    deadline = time.monotonic() + 120
    while True:
        graph = httpx.get(f"{airflow}/ui/dependencies", headers=headers, timeout=10)
        assert graph.status_code == 200, graph.text
        kinds = Counter(node["type"] for node in graph.json()["nodes"])
        if kinds["asset"] and kinds["dag"] >= 2 and graph.json()["edges"]:
            print(f"asset lineage drawn {time.monotonic() - started:.0f} s after the start")
            break
        assert time.monotonic() < deadline, f"no asset lineage after 120 s: {graph.json()}"
        time.sleep(2)

    again = gyre(stack_env, "up", "--detach")
    assert again.returncode == 1
    assert "already running" in again.stderr

    # Data written now must survive the restart below.
    postgres = f"postgresql://gyre:{secret(home, 'POSTGRES_PASSWORD')}@127.0.0.1:{stack_env['GYRE_POSTGRES_PORT']}/gyre"
    with psycopg.connect(postgres) as conn:
        conn.execute("create table if not exists survives (note text)")
        conn.execute("insert into survives values ('written before restart')")


def test_the_ui_draws_the_loops_assets_graph_and_browse_opens_the_data_docs(stack_env: dict[str, str], browser) -> None:
    """What a new user sees in Airflow's UI, in a real Chromium: an asset's page draws its part of the loop's
    lineage (the DAGs joined through the assets they produce and wait for), and Browse opens the Data Docs,
    which the platform serves with their assets; no request leaves the machine."""
    airflow = f"http://127.0.0.1:{stack_env['GYRE_AIRFLOW_PORT']}"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    tab = context.new_page()
    tab.goto(f"{airflow}/")
    tab.fill("input[name=username]", "admin")
    tab.fill("input[name=password]", secret(Path(stack_env["GYRE_HOME"]), "AIRFLOW_ADMIN_PASSWORD"))
    tab.keyboard.press("Enter")
    tab.wait_for_function("!location.pathname.startsWith('/auth')")  # logged in: the UI's own pages
    lineage = {
        "validated_transactions": {"ingest_transactions", "validated_labels", "build_features", "online_features"},
        "champion_model": {"monitor_drift", "retrain_request", "train_model", "deploy_model", "canary_rollout"},
    }
    for asset, neighbours in lineage.items():
        tab.goto(f"{airflow}/assets")
        tab.get_by_role("link", name=asset, exact=True).click()
        tab.wait_for_selector(".react-flow__node")
        tab.wait_for_function(f"document.querySelectorAll('.react-flow__node').length >= {len(neighbours) + 1}")
        nodes = tab.locator(".react-flow__node")
        assert {asset, *neighbours} <= set(nodes.all_inner_texts()), nodes.all_inner_texts()
        kinds = Counter(node_id.split(":")[0] for node_id in nodes.evaluate_all("all => all.map(n => n.dataset.id)"))
        assert kinds["dag"] >= 2 and kinds["asset"] >= 2, kinds
        assert tab.locator(".react-flow__edge").count() >= len(neighbours), asset

    tab.get_by_role("button", name="Browse").click()
    with context.expect_page() as opened:
        tab.get_by_role("menuitem", name="Data Docs — validation results by day").click()
    docs = opened.value
    docs.wait_for_load_state()
    assert docs.url == f"{airflow}/gyre/data-docs/" and "Data Docs" in docs.inner_text("h1")
    served = docs.request.get(f"{airflow}/gyre/data-docs/_assets/bootstrap-table/dist/bootstrap-table.min.js")
    assert served.status == 200 and b"bootstrapTable" in served.body()
    context.close()
    fetched = {urlsplit(url).hostname for url in requested if not url.startswith(("blob:", "data:"))}
    assert fetched == {"127.0.0.1"}, sorted(set(requested))


def stack_processes(home: Path) -> list[psutil.Process]:
    """Every process of the running stack: each service's process and all it forked (workers, children)."""
    found: dict[int, psutil.Process] = {}
    for pid in stack_pids(home):
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                found[process.pid] = process
    return list(found.values())


def listening(processes: list[psutil.Process], kind: str) -> list[tuple[str, Any, psutil.Process]]:
    """(address, port or path, process) of every listening or bound socket of ``kind`` the processes hold."""
    sockets = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in process.net_connections(kind=kind):
                if kind == "unix":
                    if conn.laddr:
                        sockets.append(("unix", conn.laddr, process))
                elif conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and not conn.raddr):
                    sockets.append((conn.laddr.ip, conn.laddr.port, process))
    return sockets


def test_only_the_services_listen_on_loopback_and_no_write_path_is_open(stack_env: dict[str, str]) -> None:
    """Nothing of the stack listens beyond loopback or on a port that is not a service's, and every
    path that changes state (features, the registry's aliases, scores, DAG runs, the stores) refuses a caller
    without credentials."""
    home = Path(stack_env["GYRE_HOME"])
    # STREAM_METRICS: the stream consumer's /metrics (read-only, GET only).
    services = ("POSTGRES", "REDIS", "MLFLOW", "FEAST", "SERVING", "STREAM_METRICS")
    port = {name: int(stack_env[f"GYRE_{name}_PORT"]) for name in services}
    port["AIRFLOW"] = int(stack_env["GYRE_AIRFLOW_PORT"])
    processes = stack_processes(home)
    assert len(processes) >= 10, [p.name() for p in processes]
    inet = listening(processes, "inet")
    named = [(ip, number, f"{p.pid} {' '.join(p.cmdline()[:4])}") for ip, number, p in inet]
    assert {ip for ip, _, _ in inet} <= {"127.0.0.1", "::1"}, named
    # BentoML's circus controller and Airflow's log servers used to add ports here; only the services remain.
    assert {number for _, number, _ in inet} == set(port.values()), named
    # The controller is a Unix socket in a directory only the serving user can enter.
    control = [Path(path) for _, path, _ in listening(processes, "unix") if str(path).endswith("circus-control.sock")]
    assert control and all(path.parent.stat().st_mode & 0o777 == 0o700 for path in control), control

    # Feast: only reads are routed, and they need the key; a foreign Host header is refused outright.
    feast = f"http://127.0.0.1:{port['FEAST']}"
    row = {"customer_id": ["c-1"], "merchant_id": ["m-1"]}
    writes = {
        "/push": {"push_source_name": "customer_push", "df": row, "to": "online"},
        "/write-to-online-store": {"feature_view_name": "customer_features", "df": row},
        "/materialize": {"start_ts": "2026-01-01T00:00:00", "end_ts": "2026-01-02T00:00:00"},
        "/materialize-incremental": {"end_ts": "2026-01-02T00:00:00"},
    }
    feast_key = secret(home, "FEATURE_SERVER_API_KEY")
    for path, body in writes.items():
        for headers in ({}, {"X-API-Key": feast_key}):
            assert httpx.post(feast + path, json=body, headers=headers, timeout=10).status_code == 404, path
    read = {"feature_service": "fraud_model_v1", "entities": row}
    assert httpx.post(f"{feast}/get-online-features", json=read, timeout=10).status_code == 401
    wrong = httpx.post(f"{feast}/get-online-features", json=read, headers={"X-API-Key": "guess"}, timeout=10)
    assert wrong.status_code == 401
    keyed = httpx.post(f"{feast}/get-online-features", json=read, headers={"X-API-Key": feast_key}, timeout=30)
    # With the key the request reaches Feast itself, which answers it (or names what the row lacks).
    assert keyed.status_code == 200 or "feast.errors" in keyed.text, keyed.text
    assert httpx.get(f"{feast}/health", headers={"Host": "attacker.example"}, timeout=10).status_code == 400

    # MLflow: moving @champion (or anything else) needs the generated admin login.
    mlflow = f"http://127.0.0.1:{port['MLFLOW']}/api/2.0/mlflow"
    alias = {"name": "fraud_detector", "alias": "champion", "version": "1"}
    admin = ("admin", secret(home, "MLFLOW_ADMIN_PASSWORD"))
    refused = [
        ("POST", "/registered-models/alias", alias, None),
        ("POST", "/registered-models/alias", alias, ("admin", "admin")),
        ("POST", "/registered-models/create", {"name": "x"}, None),
        ("POST", "/users/create", {"username": "eve", "password": "e" * 16}, None),
        ("GET", "/registered-models/search", None, None),
    ]
    for method, path, body, auth in refused:
        response = httpx.request(method, mlflow + path, json=body, auth=auth, timeout=10)
        assert response.status_code == 401, (method, path, auth and auth[0], response.status_code)
    assert httpx.get(f"{mlflow}/registered-models/search", auth=admin, timeout=10).status_code == 200
    # With the login the same alias call reaches the registry (no such model on a fresh stack).
    moved = httpx.post(f"{mlflow}/registered-models/alias", json=alias, auth=admin, timeout=10)
    assert moved.status_code == 404 and "RESOURCE_DOES_NOT_EXIST" in moved.text, moved.text

    # The scoring endpoint and Airflow's API refuse anonymous callers.
    serving = f"http://127.0.0.1:{port['SERVING']}"
    assert httpx.post(f"{serving}/score", json={"transaction": {}}, timeout=10).status_code == 401
    airflow = f"http://127.0.0.1:{port['AIRFLOW']}/api/v2"
    assert httpx.post(f"{airflow}/dags/train_model/dagRuns", json={}, timeout=10).status_code == 401
    assert httpx.patch(f"{airflow}/dags/train_model", json={"is_paused": False}, timeout=10).status_code == 401

    # The stores need their passwords.
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port["REDIS"], socket_timeout=5).set("feature:poison", "1")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://gyre@127.0.0.1:{port['POSTGRES']}/gyre", connect_timeout=5)


def test_the_knowledge_base_answers_on_day_one(stack_env: dict[str, str]) -> None:
    """The first start of a fresh home has Airflow build the document index: nobody triggers index_documents,
    and /ask answers from the documents instead of "no indexed document"."""
    home = Path(stack_env["GYRE_HOME"])
    ask = f"http://127.0.0.1:{stack_env['GYRE_SERVING_PORT']}/ask"
    key = {"X-API-Key": secret(home, "SERVING_API_KEY")}
    question = {"question": "How many days do we have to raise a Visa chargeback?"}
    started = time.monotonic()
    deadline = started + 900  # a hang guard: the first index run is a minute or two on an idle machine
    answer = httpx.post(ask, json=question, headers=key, timeout=120).json()
    # a 503 {"error"} says the answers service is still loading its embedding model: no sources yet either
    while not answer.get("sources") and time.monotonic() < deadline:
        time.sleep(5)
        answer = httpx.post(ask, json=question, headers=key, timeout=120).json()
    print(f"document index answered {time.monotonic() - started:.0f} s into this test")
    assert answer["note"] != "no indexed document matches the question", answer
    assert "policies/chargeback-policy.md" in {c["source"] for c in answer["citations"]}, answer

    airflow = f"http://127.0.0.1:{stack_env['GYRE_AIRFLOW_PORT']}"
    login = {"username": "admin", "password": secret(home, "AIRFLOW_ADMIN_PASSWORD")}
    token = httpx.post(f"{airflow}/auth/token", json=login, timeout=10).json()["access_token"]
    # The index is live once the run's swap task commits; the scheduler marks the run itself a moment later.
    deadline = time.monotonic() + 120
    while True:
        runs = httpx.get(
            f"{airflow}/api/v2/dags/index_documents/dagRuns", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()["dag_runs"]
        if not any(run["state"] in ("queued", "running") for run in runs) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [run["state"] for run in runs] == ["success"], runs  # one run built it: no second, redundant one


def test_down_leaves_nothing(stack_env: dict[str, str]) -> None:
    home = Path(stack_env["GYRE_HOME"])
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
        # As any server does: the stack just stopped leaves the port's closed connections in TIME_WAIT for a minute.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", int(stack_env["GYRE_AIRFLOW_PORT"])))
        squatter.listen()
        result = gyre(stack_env, "up", "--detach", timeout=120)
    assert result.returncode == 1
    assert f"port {stack_env['GYRE_AIRFLOW_PORT']}" in result.stderr
    assert "GYRE_AIRFLOW_PORT" in result.stderr
