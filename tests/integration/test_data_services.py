"""The embedded data services are real: pgvector works, Redis enforces its password, data survives."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import redis

from gyre.services.endpoints import libpq_url

pytestmark = pytest.mark.integration


def test_pgvector_orders_by_distance(database_url: str) -> None:
    with psycopg.connect(libpq_url()) as conn:
        conn.execute("create temporary table items (id int, embedding vector(3))")
        conn.execute("insert into items values (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')")
        nearest = conn.execute("select id from items order by embedding <-> %s::vector limit 2", ("[1,0,0]",))
        assert [row[0] for row in nearest] == [1, 3]


def test_hnsw_index_builds_serially(database_url: str) -> None:
    with psycopg.connect(libpq_url()) as conn:
        setting = conn.execute("show max_parallel_maintenance_workers").fetchone()
        assert setting == ("0",)
        conn.execute("create temporary table docs (embedding vector(2))")
        conn.execute(
            "insert into docs select ('[' || i || ',' || (i % 7) || ']')::vector from generate_series(1, 500) i"
        )
        conn.execute("create index on docs using hnsw (embedding vector_l2_ops)")


def test_postgres_rejects_a_wrong_password(database_url: str) -> None:
    wrong = libpq_url().replace("gyre:", "gyre:not-the-password-", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=3)


def test_redis_requires_its_password(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("gyre:test", "1")
    assert client.get("gyre:test") == b"1"
    host, port = client.connection_pool.connection_kwargs["host"], client.connection_pool.connection_kwargs["port"]
    anonymous = redis.Redis(host=host, port=port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("gyre:test")


def test_redis_binds_to_loopback_only(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert client.config_get("appendonly")["appendonly"] == "yes"


def test_service_logs_are_readable_by_their_owner_only(database_url: str, redis_url: str) -> None:
    """The session's own Postgres, Redis and MLflow wrote these logs: mode 600 files in a 700 folder."""
    import stat

    from gyre.config import get_settings

    logs = get_settings().logs_dir
    written = sorted(p.name for p in logs.glob("*.log"))
    assert {"postgres.log", "redis.log", "mlflow.log"} <= set(written)
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    modes = {name: stat.S_IMODE((logs / name).stat().st_mode) for name in written}
    assert modes == dict.fromkeys(written, 0o600)


def test_a_log_written_before_is_made_private_when_reopened(tmp_path: Path) -> None:
    import stat
    import sys

    from gyre.services.process import ManagedProcess

    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    (logs / "old.log").write_text("from an earlier start\n")
    (logs / "old.log").chmod(0o644)
    process = ManagedProcess("echo", [sys.executable, "-c", "print('started')"], logs / "old.log")
    process.start()
    process.popen.wait(timeout=30)
    assert (logs / "old.log").read_text().endswith("started\n")
    assert stat.S_IMODE((logs / "old.log").stat().st_mode) == 0o600
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
