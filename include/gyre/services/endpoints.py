"""Where each service is reached: the external URL from settings when given, else the embedded one.

Every stage asks here instead of building URLs itself, so pointing Gyre at an external Postgres or Redis
is one setting.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from gyre.config import Settings, get_settings
from gyre.services.credentials import load_or_create

APP_DATABASE = "gyre"
AIRFLOW_DATABASE = "airflow"
MLFLOW_DATABASE = "mlflow"
MLFLOW_ADMIN_USER = "admin"


def database_url(settings: Settings | None = None, database: str = APP_DATABASE) -> str:
    """SQLAlchemy URL (psycopg 3 driver) of ``database``; Gyre's own data lives in ``gyre``."""
    settings = settings or get_settings()
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        if database != APP_DATABASE:
            base, _, _ = url.rpartition("/")
            url = f"{base}/{database}"
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    creds, _ = load_or_create(settings.home)
    password = quote(creds.postgres_password, safe="")
    return f"postgresql+psycopg://gyre:{password}@{settings.bind_host}:{settings.postgres_port}/{database}"


def libpq_url(settings: Settings | None = None, database: str = APP_DATABASE) -> str:
    """The same URL in plain libpq form, for psycopg.connect and command-line tools."""
    return database_url(settings, database).replace("postgresql+psycopg://", "postgresql://", 1)


def redis_url(settings: Settings | None = None, db: int = 0) -> str:
    settings = settings or get_settings()
    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value()
    creds, _ = load_or_create(settings.home)
    return f"redis://:{quote(creds.redis_password, safe='')}@{settings.bind_host}:{settings.redis_port}/{db}"


def airflow_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"http://{settings.bind_host}:{settings.airflow_port}"


def mlflow_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.mlflow_tracking_uri or f"http://{settings.bind_host}:{settings.mlflow_port}"


def mlflow_client_env(settings: Settings | None = None) -> dict[str, str]:
    """The variables MLflow's client authenticates to the embedded server with (its basic-auth admin).

    Empty for an MLflow run elsewhere: its operator gives ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD`` in the environment, where MLflow reads them itself.
    """
    settings = settings or get_settings()
    if settings.mlflow_tracking_uri:
        return {}
    creds, _ = load_or_create(settings.home)
    return {"MLFLOW_TRACKING_USERNAME": MLFLOW_ADMIN_USER, "MLFLOW_TRACKING_PASSWORD": creds.mlflow_admin_password}


def without_password(url: str) -> str:
    """The URL safe to print: user, host, port and path, never the password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
