"""Embedded PostgreSQL 16 with pgvector, from the binaries that the PyPI package ``pgserver`` ships.

The server runs as a plain child process of the supervisor (not daemonized), listening on
``bind_host:postgres_port`` with scram-sha-256 passwords, its data under ``<home>/postgres``.
PostgreSQL refuses to run as root, so under root it runs as an unprivileged system user, as pgserver does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile

import psycopg
from psycopg import sql

from gyre.config import Settings
from gyre.services.credentials import Credentials
from gyre.services.endpoints import AIRFLOW_DATABASE, APP_DATABASE, MLFLOW_DATABASE, libpq_url
from gyre.services.process import ManagedProcess

DATABASES = (APP_DATABASE, AIRFLOW_DATABASE, MLFLOW_DATABASE)
SYSTEM_USER_WHEN_ROOT = "pgserver"


def _bin(name: str) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


class EmbeddedPostgres:
    name = "postgres"

    def __init__(self, settings: Settings, creds: Credentials) -> None:
        self.settings = settings
        self.creds = creds
        self.root = settings.home / "postgres"
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.user = SYSTEM_USER_WHEN_ROOT if os.geteuid() == 0 else None
        self.url = f"postgresql://{settings.bind_host}:{settings.postgres_port}/{APP_DATABASE}"

    def _prepare_root_access(self) -> None:
        """Under root, let the unprivileged server user reach the binaries and own the data directory."""
        import pwd
        import stat

        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER_WHEN_ROOT)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        ensure_prefix_permissions(self.root)
        entry = pwd.getpwnam(SYSTEM_USER_WHEN_ROOT)
        for path in (self.root, self.data_dir, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def prepare(self) -> None:
        """Create the cluster on first start; later starts reuse its data."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self.user:
            self._prepare_root_access()
        if (self.data_dir / "PG_VERSION").exists():
            return
        with tempfile.NamedTemporaryFile("w", dir=self.root, delete=False) as pwfile:
            pwfile.write(self.creds.postgres_password)
        try:
            if self.user:
                import pwd

                entry = pwd.getpwnam(self.user)
                os.chown(pwfile.name, entry.pw_uid, entry.pw_gid)
            subprocess.run(
                [
                    _bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "gyre",
                    f"--pwfile={pwfile.name}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
                user=self.user,
            )
        finally:
            os.unlink(pwfile.name)

    def processes(self) -> list[ManagedProcess]:
        # max_parallel_maintenance_workers=0: pgvector 0.6.2 (what pgserver ships) overflows a buffer in
        # parallel HNSW builds (CVE-2026-3172); serial builds are safe.
        argv = [
            _bin("postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.settings.postgres_port),
            "-h",
            self.settings.bind_host,
            "-k",
            str(self.socket_dir),
            "-c",
            "max_parallel_maintenance_workers=0",
            "-c",
            "max_connections=200",
        ]
        # SIGINT is PostgreSQL's "fast" shutdown: in-flight transactions roll back, committed data is flushed.
        return [
            ManagedProcess(
                "postgres", argv, self.settings.logs_dir / "postgres.log", user=self.user, stop_signal=signal.SIGINT
            )
        ]

    def ready(self) -> bool:
        with psycopg.connect(libpq_url(self.settings, "postgres"), connect_timeout=2) as conn:
            return conn.execute("select 1").fetchone() == (1,)

    def bootstrap(self) -> None:
        """Create Gyre's databases and the ``vector`` extension; safe to run on every start."""
        with psycopg.connect(libpq_url(self.settings, "postgres"), autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("select datname from pg_database")}
            for name in DATABASES:
                if name not in existing:
                    conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        with psycopg.connect(libpq_url(self.settings, APP_DATABASE), autocommit=True) as conn:
            conn.execute("create extension if not exists vector")
