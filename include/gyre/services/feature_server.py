"""The Feast feature server: online features over HTTP, reading Redis, on ``bind_host``; read-only.

``feast serve`` answers ``/push``, ``/write-to-online-store`` and ``/materialize`` to anyone who can reach
it, with any Host header, and a pushed feature row changes the scores served from it. Gyre serves Feast's
own FastAPI app (``feast.feature_server.get_app``) behind two guards instead: ``ReadOnlyGate`` routes only
the read endpoints (everything else is 404) and requires the generated API key (``X-API-Key``) for reads,
and Starlette's ``TrustedHostMiddleware`` refuses unexpected Host headers (DNS rebinding). Features reach
Redis through the ``build_features`` DAG, which writes with the SDK, never through this server.

Before it starts, the feature definitions are applied to the registry if they changed, so the server never
comes up with an empty or outdated registry. It is one uvicorn process with no worker recycling: gunicorn's
default restarts the worker every ~1,000 requests, and those restarts put p99 latency near a second here.

Run by hand as ``python -m gyre.services.feature_server --host H --port P [--allowed-host NAME ...]`` with
``GYRE_FEATURE_SERVER_API_KEY`` in the environment (compose does).
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Iterable
from typing import Any

import httpx

from gyre.config import Settings
from gyre.services.credentials import Credentials
from gyre.services.process import ManagedProcess

API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "GYRE_FEATURE_SERVER_API_KEY"
# (method, path) the server answers; only /health answers without the key (it reveals no feature value).
READ_ROUTES = frozenset({("POST", "/get-online-features"), ("GET", "/health")})
OPEN_ROUTES = frozenset({("GET", "/health")})
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
REGISTRY_TTL_S = 60

Scope = dict[str, Any]


def feature_server_url(settings: Settings) -> str:
    return f"http://{settings.bind_host}:{settings.feast_port}"


class ReadOnlyGate:
    """ASGI middleware in front of Feast's app: only ``READ_ROUTES`` exist, and reads need the API key.

    An allowlist rather than a blocklist of write routes, so an endpoint a newer Feast adds stays closed.
    """

    def __init__(self, app: Any, api_key: str) -> None:
        if not api_key:
            raise ValueError("the feature server needs an API key")
        self.app = app
        self.api_key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        from starlette.responses import JSONResponse

        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets (Feast's chat demo): none is served
            await send({"type": "websocket.close", "code": 1008})
            return
        route = (scope["method"], scope["path"])
        if route not in READ_ROUTES:
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        if route not in OPEN_ROUTES:
            given = dict(scope["headers"]).get(API_KEY_HEADER.lower().encode(), b"")
            if not secrets.compare_digest(given, self.api_key):
                body = {"detail": f"missing or invalid {API_KEY_HEADER}"}
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def guarded_app(feast_app: Any, api_key: str, allowed_hosts: Iterable[str]) -> Any:
    """Feast's ASGI app behind the Host check (outermost, so a rebinding page learns nothing) and the gate."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    return TrustedHostMiddleware(ReadOnlyGate(feast_app, api_key), allowed_hosts=list(allowed_hosts))


def feast_app(registry_ttl_sec: int = REGISTRY_TTL_S) -> Any:
    """Feast's own feature-server app for ``feature_repo/``, with its auth managers set up as `feast serve` does."""
    from feast.feature_server import get_app
    from feast.permissions.server.utils import (
        ServerType,
        init_auth_manager,
        init_security_manager,
        str_to_auth_manager_type,
    )

    from gyre.config import get_settings
    from gyre.features.store import feature_store

    store = feature_store(get_settings())
    auth_type = str_to_auth_manager_type(store.config.auth_config.type)
    init_security_manager(auth_type=auth_type, fs=store)
    init_auth_manager(auth_type=auth_type, server_type=ServerType.REST, auth_config=store.config.auth_config)
    return get_app(store, registry_ttl_sec=registry_ttl_sec)


def main(argv: list[str] | None = None) -> None:
    """Serve the guarded app in one uvicorn process (no worker recycling, so no periodic latency spikes)."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Gyre's read-only Feast feature server")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--allowed-host", action="append", default=[], help="a Host header to accept (repeat)")
    parser.add_argument("--registry-ttl", type=int, default=REGISTRY_TTL_S)
    args = parser.parse_args(argv)
    api_key = os.environ.get(API_KEY_ENV, "")
    if not api_key:
        parser.error(f"set {API_KEY_ENV}: the feature server does not run without an API key")
    hosts = {args.host, *LOOPBACK_NAMES, *args.allowed_host}
    app = guarded_app(feast_app(args.registry_ttl), api_key, sorted(hosts))
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")


class EmbeddedFeatureServer:
    name = "feast"

    def __init__(self, settings: Settings, creds: Credentials) -> None:
        self.settings = settings
        self.creds = creds
        self.url = feature_server_url(settings)
        self.home = settings.home / "feast"

    def prepare(self) -> None:
        from gyre.features.materialize import apply_if_changed

        self.home.mkdir(parents=True, exist_ok=True)
        apply_if_changed(self.settings)

    def processes(self) -> list[ManagedProcess]:
        import sys

        argv = [
            sys.executable,
            "-m",
            "gyre.services.feature_server",
            "--host",
            self.settings.bind_host,
            "--port",
            str(self.settings.feast_port),
        ]
        # The process resolves the store from Gyre's settings (as every other Feast client here does); the key
        # is a secret, so by environment, never argv (visible in `ps`). A private $HOME keeps whatever Feast
        # caches there apart from another stack's on the same machine.
        env = {
            "GYRE_HOME": str(self.settings.home),
            API_KEY_ENV: self.creds.feature_server_api_key,
            "HOME": str(self.home),
        }
        return [ManagedProcess("feast", argv, self.settings.logs_dir / "feast.log", env=env)]

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/health", timeout=3).status_code == 200

    def bootstrap(self) -> None:
        """Definitions were applied in prepare(); features arrive with the build_features DAG."""


if __name__ == "__main__":
    main()
