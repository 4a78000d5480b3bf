"""A child process the supervisor owns: its own process group, a log file, readiness, and a clean stop.

Each service runs in a new session so that stopping it reaches every process it forked (Airflow's
executor workers, uvicorn workers): nothing is orphaned by `gyre down` or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


class ServiceError(RuntimeError):
    """A service failed to start or become ready; the message says which and where its log is."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (for private stacks in tests and benchmarks)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(
    pgid: int, sig: int = signal.SIGTERM, timeout_s: float = 30.0, reap: Callable[[], object] | None = None
) -> None:
    """Signal a whole process group, wait for it to go, and kill what is left after ``timeout_s``.

    ``reap`` collects the group leader when it is our own child, which would otherwise linger as a zombie.
    """
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if reap:
            reap()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return


def open_log(path: Path) -> BinaryIO:
    """Append to a log only its owner can read (mode 600 in a 700 folder): service logs hold request errors,
    paths and hostnames that other users of the host have no business reading."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)  # a log created before, with the umask's mode
    return os.fdopen(fd, "ab")


@dataclass
class ManagedProcess:
    """One long-running command, started in its own session with output appended to ``log_path``."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    stop_signal: int = signal.SIGTERM
    user: str | None = None
    # Restart when it exits on its own (Celery workers: a lost worker's tasks are retried elsewhere,
    # and the pool should be whole again); other services stop the stack instead.
    restart_on_exit: bool = False
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        log = open_log(self.log_path)
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
        log.flush()
        self.popen = subprocess.Popen(
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            start_new_session=True,
            user=self.user,
        )
        log.close()
        return self.popen.pid

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def exited(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        stop_group(self.popen.pid, self.stop_signal, timeout_s, reap=self.popen.poll)
        self.popen.wait(timeout=5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])


def wait_ready(processes: list[ManagedProcess], probe: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``probe`` until true; fail early, with the log's tail, if any of the processes dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for process in processes:
            code = process.exited()
            if code is not None:
                raise ServiceError(f"{process.name} exited with code {code} during start-up:\n{process.log_tail()}")
        with contextlib.suppress(Exception):  # a probe that fails only means "not ready yet"
            if probe():
                return
        time.sleep(0.5)
    names = ", ".join(p.name for p in processes)
    logs = ", ".join(str(p.log_path) for p in processes)
    raise ServiceError(f"{names} not ready after {timeout_s:.0f} s; see {logs}")
