"""`gyre up` / `status` / `down`: start the stack, wait until each service is ready, stop it cleanly.

Postgres and Redis start first; MLflow, the feature server, the endpoint and Airflow then start side by side.
Once all are ready, a start that finds no live document index has Airflow build one (``first_index``).

The supervisor owns every service as a child process group and records them in ``<home>/run/state.json``.
Stopping goes in reverse order (Airflow before the databases it writes to) so no data is lost, and a
service that dies on its own brings the supervisor down with a message instead of leaving half a stack.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from gyre.config import Settings
from gyre.services import ALL_SERVICES, first_index
from gyre.services.airflow import EmbeddedAirflow
from gyre.services.credentials import load_or_create
from gyre.services.endpoints import without_password
from gyre.services.feature_server import EmbeddedFeatureServer
from gyre.services.mlflow import EmbeddedMlflow
from gyre.services.postgres import EmbeddedPostgres
from gyre.services.process import ManagedProcess, ServiceError, pid_alive, port_is_free, stop_group, wait_ready
from gyre.services.redis import EmbeddedRedis
from gyre.services.serving import EmbeddedServing
from gyre.services.stream_consumer import EmbeddedStreamConsumer

STORES = ("postgres", "redis")  # started first, one by one: every other service keeps its state in them


class Service(Protocol):
    name: str
    url: str

    def prepare(self) -> None: ...
    def processes(self) -> list[ManagedProcess]: ...
    def ready(self) -> bool: ...
    def bootstrap(self) -> None: ...


@dataclass
class ServiceRecord:
    name: str
    url: str
    pids: list[int] = field(default_factory=list)
    external: bool = False
    ready_s: float | None = None


@dataclass
class StackState:
    supervisor_pid: int
    started_at: float
    services: list[ServiceRecord]
    ready: bool = False

    @classmethod
    def read(cls, path: Path) -> StackState | None:
        try:
            raw = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return cls(
            supervisor_pid=raw["supervisor_pid"],
            started_at=raw["started_at"],
            services=[ServiceRecord(**record) for record in raw["services"]],
            ready=raw.get("ready", False),
        )

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


class AlreadyRunning(ServiceError):
    pass


PORT_SETTINGS = {
    "postgres": ("postgres_port",),
    "redis": ("redis_port",),
    "mlflow": ("mlflow_port",),
    "feast": ("feast_port",),
    "stream": ("stream_metrics_port",),
    "serving": ("serving_port",),
    "airflow": ("airflow_port",),  # its log servers are not started (see services/airflow.py)
}


def state_path(settings: Settings) -> Path:
    return settings.run_dir / "state.json"


def running_state(settings: Settings) -> StackState | None:
    """The state of a live supervisor for this home, or ``None`` when nothing runs."""
    state = StackState.read(state_path(settings))
    if state and pid_alive(state.supervisor_pid):
        return state
    return None


class Supervisor:
    def __init__(
        self, settings: Settings, only: Iterable[str] = ALL_SERVICES, report: Callable[[str], None] = print
    ) -> None:
        self.settings = settings
        self.creds, self.first_start = load_or_create(settings.home)
        self.report = report
        wanted = set(only)
        factories: list[tuple[str, type]] = [
            ("postgres", EmbeddedPostgres),
            ("redis", EmbeddedRedis),
            ("mlflow", EmbeddedMlflow),
            ("feast", EmbeddedFeatureServer),
            ("stream", EmbeddedStreamConsumer),
            ("serving", EmbeddedServing),
            ("airflow", EmbeddedAirflow),
        ]
        self.services: list[Service] = [cls(settings, self.creds) for name, cls in factories if name in wanted]
        self.external = {
            name: without_password(url.get_secret_value())
            for name, url in (("postgres", settings.database_url), ("redis", settings.redis_url))
            if url is not None
        }
        self.running: list[ManagedProcess] = []
        self.records: list[ServiceRecord] = []
        self._records_lock = threading.Lock()
        self.state = StackState(os.getpid(), time.time(), self.records)

    # -- start ---------------------------------------------------------------------------------------
    def check_ports(self) -> None:
        """Fail before starting anything if a port an embedded service needs is taken."""
        for service in self.services:
            if self.external.get(service.name):
                continue
            for setting in PORT_SETTINGS[service.name]:
                port = getattr(self.settings, setting)
                if not port_is_free(self.settings.bind_host, port):
                    raise ServiceError(
                        f"port {port} on {self.settings.bind_host} is in use (needed by {service.name}); "
                        f"set GYRE_{setting.upper()} to another port"
                    )

    def up(self) -> StackState:
        """Start every service in order and return once all are ready; stops what started on failure."""
        if live := running_state(self.settings):
            raise AlreadyRunning(
                f"Gyre is already running for {self.settings.home} (supervisor pid {live.supervisor_pid}); "
                "see `gyre status`, or stop it with `gyre down`"
            )
        self.check_ports()
        path = state_path(self.settings)
        self.state.write(path)
        try:
            first = [service for service in self.services if service.name in STORES]
            for service in first:
                self._await(service, self._launch(service))
                self.state.write(path)
            self._start_together([service for service in self.services if service.name not in STORES])
            self.state.write(path)
        except BaseException:
            self.down()
            raise
        self.state.ready = True
        self.state.write(path)
        if self.settings.rag_index_on_start and any(service.name == "airflow" for service in self.services):
            first_index.start_in_background(self.settings, self.report)  # the knowledge base on day one
        return self.state

    def _start_together(self, services: list[Service]) -> None:
        """Prepare and launch the services side by side, then wait for each to be ready.

        Their start-ups are mostly Python imports and migrations: one after another they took 90 s here,
        side by side they overlap. Readiness is awaited on this thread, so Ctrl-C stops the wait at once.
        """
        if not services:
            return
        with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="start") as pool:
            launches = [(service, pool.submit(self._launch, service)) for service in services]
            launched = [(service, future.result()) for service, future in launches]
        for service, started in launched:
            self._await(service, started)

    def _launch(self, service: Service) -> tuple[ServiceRecord, list[ManagedProcess], float]:
        began = time.monotonic()
        external = service.name in self.external
        record = ServiceRecord(service.name, self.external.get(service.name, service.url), external=external)
        with self._records_lock:  # launched from several threads; the table lists them in stack order
            self.records.append(record)
            self.records.sort(key=lambda r: ALL_SERVICES.index(r.name))
        if external:
            self.report(f"{service.name}: using the external server from settings")
            return record, [], began
        self.report(f"{service.name}: preparing")
        service.prepare()
        started = service.processes()
        for process in started:
            record.pids.append(process.start())
            self.running.append(process)
        return record, started, began

    def _await(self, service: Service, launched: tuple[ServiceRecord, list[ManagedProcess], float]) -> None:
        record, started, began = launched
        if started:
            self.report(f"{service.name}: waiting until ready")
            wait_ready(started, service.ready, self.settings.startup_timeout_s)
        service.bootstrap()
        record.ready_s = round(time.monotonic() - began, 1)
        self.report(f"{service.name}: ready in {record.ready_s} s")

    # -- run and stop --------------------------------------------------------------------------------
    def watch(self) -> str:
        """Block while every service runs; return why when one exits on its own (Ctrl-C interrupts).

        A process marked ``restart_on_exit`` is started again instead, and the state file follows its pid.
        """
        while True:
            for process in self.running:
                code = process.exited()
                if code is None:
                    continue
                if not process.restart_on_exit:
                    return f"{process.name} exited with code {code}; see {process.log_path}\n{process.log_tail()}"
                old = process.pid
                self.report(f"{process.name} exited with code {code}; restarting it")
                new = process.start()
                for record in self.records:
                    record.pids = [new if pid == old else pid for pid in record.pids]
                self.state.write(state_path(self.settings))
            time.sleep(0.5)

    def down(self) -> None:
        """Stop the services side by side, then the stores they keep their state in.

        One after another, each draining before the next was asked, a stop took 15-45 s; side by side it takes
        as long as the slowest service.
        """
        users = [process for process in reversed(self.running) if process.name not in STORES]
        stores = [process for process in reversed(self.running) if process.name in STORES]
        for process in users:
            self.report(f"stopping {process.name}")
        if users:
            with ThreadPoolExecutor(max_workers=len(users), thread_name_prefix="stop") as pool:
                list(pool.map(ManagedProcess.stop, users))
        for process in stores:
            self.report(f"stopping {process.name}")
            process.stop()
        self.running.clear()
        state_path(self.settings).unlink(missing_ok=True)


def stop_running(settings: Settings, timeout_s: float = 120.0) -> bool:
    """Ask a running supervisor to stop and wait for it; clean up after a crashed one. ``False`` if none ran."""
    state = StackState.read(state_path(settings))
    if state is None:
        return False
    if pid_alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(state.supervisor_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    # Whatever a dead supervisor left behind: each service is its own process group.
    for record in reversed(state.services):
        for pid in record.pids:
            if pid_alive(pid):
                stop_group(pid)
    state_path(settings).unlink(missing_ok=True)
    return True
