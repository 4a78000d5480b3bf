"""The `gyre` command: bring the platform up, see its state, take it down."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, NoReturn

import click

from gyre.data.cli import data
from gyre.data.scenarios import DRIFT_SCENARIOS
from gyre.rag.cli import rag
from gyre.registry.cli import model
from gyre.services import ALL_SERVICES
from gyre.streaming.cli import stream

if TYPE_CHECKING:  # the rest loads when a command runs, so `gyre --help` answers at once
    from rich.console import Console
    from rich.table import Table

    from gyre.config import Settings
    from gyre.services.supervisor import StackState


@functools.cache
def console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    """One plain line on stderr (never wrapped, so scripts and people can read it), then exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings() -> Settings:
    from gyre.config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as error:
        _fail(str(error), code=2)


def _services_table(settings: Settings, state: StackState, health: dict[str, bool] | None = None) -> Table:
    from rich.table import Table

    from gyre.services.credentials import secrets_file

    table = Table(title=f"Gyre — data in {settings.home}")
    table.add_column("service")
    table.add_column("state")
    table.add_column("url")
    table.add_column("login")
    logins = {
        "postgres": "user gyre",
        "redis": "password only",
        "airflow": "user admin",
        "mlflow": "user admin (MLFLOW_ADMIN_PASSWORD in the passwords file)",
        "serving": "X-API-Key (SERVING_API_KEY in the passwords file); analyst console at /console/",
        "feast": "X-API-Key (FEATURE_SERVER_API_KEY in the passwords file); read-only",
    }
    for record in state.services:
        if health is None:
            status = "external" if record.external else f"ready in {record.ready_s} s"
        else:
            status = "[green]healthy[/]" if health.get(record.name) else "[red]unhealthy[/]"
        table.add_row(record.name, status, record.url, logins.get(record.name, ""))
    table.caption = f"passwords: {secrets_file(settings.home)} (mode 600)"
    return table


def _show_first_login(settings: Settings) -> None:
    from gyre.services.credentials import load_or_create

    creds, _ = load_or_create(settings.home)
    console().print(
        f"First start: Airflow login [bold]admin[/] / [bold]{creds.airflow_admin_password}[/] "
        "(shown once; kept in the passwords file below)",
        highlight=False,
    )


@click.group()
@click.version_option(package_name="gyre")
def main() -> None:
    """Gyre: the production ML loop on Airflow 3."""


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@main.command()
@click.option("--detach", is_flag=True, help="Start in the background and return once everything is ready.")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(ALL_SERVICES),
    help="Start only these services (repeatable); default: all.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "celery"]),
    help="Airflow executor (default: GYRE_AIRFLOW_EXECUTOR, else local). celery adds GYRE_CELERY_WORKERS workers.",
)
def up(detach: bool, only: tuple[str, ...], executor: str | None) -> None:
    """Start Postgres+pgvector, Redis, MLflow and Airflow; wait until each is ready."""
    from gyre.services.credentials import load_or_create
    from gyre.services.process import ServiceError
    from gyre.services.supervisor import Supervisor, running_state

    if executor:
        os.environ["GYRE_AIRFLOW_EXECUTOR"] = executor  # inherited by a detached supervisor too
    settings = _settings()
    if live := running_state(settings):
        _fail(
            f"Gyre is already running for {settings.home} (supervisor pid {live.supervisor_pid}); "
            "`gyre status` shows it, `gyre down` stops it"
        )
    _, first_start = load_or_create(settings.home)
    try:
        Supervisor(settings, only or ALL_SERVICES, report=lambda _: None).check_ports()
    except ServiceError as error:
        _fail(str(error))
    if detach:
        _up_detached(settings, only)
    else:
        _up_foreground(settings, only)
    if first_start:
        _show_first_login(settings)


def _up_foreground(settings: Settings, only: tuple[str, ...]) -> None:
    from gyre.services.process import ServiceError
    from gyre.services.supervisor import Supervisor

    supervisor = Supervisor(settings, only or ALL_SERVICES, report=lambda line: console().log(line, highlight=False))
    # Set both: a process started in the background by a non-interactive shell inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    failure: str | None = None
    try:
        state = supervisor.up()
        console().print(_services_table(settings, state))
        console().print("Press Ctrl-C or run `gyre down` to stop.")
        failure = supervisor.watch()
    except KeyboardInterrupt:
        console().log("stop requested")
    except ServiceError as error:
        failure = str(error)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.down()
    if failure:
        _fail(failure)
    console().log("all services stopped")


def _up_detached(settings: Settings, only: tuple[str, ...]) -> None:
    """Run the foreground supervisor in its own session, following its log until the stack is ready."""
    from gyre.services.process import open_log
    from gyre.services.supervisor import StackState, state_path, stop_running

    log_path = settings.logs_dir / "supervisor.log"
    argv = [sys.executable, "-m", "gyre.cli", "up", *(arg for name in only for arg in ("--only", name))]
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open_log(log_path) as log:
        child = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "120"},
        )
    deadline = time.monotonic() + settings.startup_timeout_s * 2
    with console().status("starting Gyre…") as status:
        while time.monotonic() < deadline:
            state = StackState.read(state_path(settings))
            if state and state.ready and state.supervisor_pid == child.pid:
                console().print(_services_table(settings, state))
                console().print(f"Running in the background (pid {child.pid}); `gyre down` stops it. Log: {log_path}")
                return
            if child.poll() is not None:
                tail = log_path.read_text(errors="replace")[offset:][-3000:]
                _fail(f"Gyre failed to start; see {log_path}\n{tail}")
            lines = log_path.read_text(errors="replace").splitlines()
            if lines:
                status.update(lines[-1].strip()[:100])
            time.sleep(0.5)
    stop_running(settings)
    _fail(f"Gyre was not ready in time; see {log_path}")


@main.command()
def status() -> None:
    """Show each service and whether it answers its health check; exit 1 if any does not."""
    from gyre.services.process import pid_alive
    from gyre.services.supervisor import Supervisor, running_state

    settings = _settings()
    state = running_state(settings)
    if state is None:
        console().print("Gyre is not running. `gyre up` starts it.")
        sys.exit(1)
    supervisor = Supervisor(settings, [record.name for record in state.services], report=lambda _: None)
    health: dict[str, bool] = {}
    for service in supervisor.services:
        record = next(r for r in state.services if r.name == service.name)
        try:
            health[service.name] = (record.external or all(map(pid_alive, record.pids))) and service.ready()
        except Exception:  # noqa: BLE001 - any failure of the probe is "unhealthy"
            health[service.name] = False
    console().print(_services_table(settings, state, health))
    if not state.ready:
        console().print("still starting…")
    sys.exit(0 if state.ready and all(health.values()) else 1)


@main.command()
def down() -> None:
    """Stop every service: Airflow first, the databases last."""
    from gyre.services.supervisor import stop_running

    settings = _settings()
    with console().status("stopping Gyre…"):
        stopped = stop_running(settings)
    console().print("Gyre stopped." if stopped else "Gyre was not running.")


@main.command()
@click.option(
    "--scenario",
    type=click.Choice(DRIFT_SCENARIOS),
    default=DRIFT_SCENARIOS[0],
    show_default=True,
    help="The drift that lands after the champion is serving.",
)
@click.option(
    "--rollout",
    type=click.Choice(["swap", "canary"]),
    default=None,
    help="How the retrained champion goes live: as the platform's GYRE_ROLLOUT_MODE, which this must match.",
)
def demo(scenario: str, rollout: str | None) -> None:
    """On a running platform: backfill, train, serve, inject drift, and watch the loop retrain and swap by itself."""
    from gyre.demo import Demo, DemoError, summary
    from gyre.services.supervisor import running_state

    settings = _settings()
    if running_state(settings) is None:
        _fail("Gyre is not running; start it with `gyre up --detach` (or `make demo`, which does both)")
    try:
        result = Demo(settings, scenario, console(), rollout=rollout).run()
    except DemoError as error:
        _fail(str(error))
    console().print(summary(result, settings))


main.add_command(data)
main.add_command(model)
main.add_command(rag)
main.add_command(stream)

if __name__ == "__main__":
    main()
