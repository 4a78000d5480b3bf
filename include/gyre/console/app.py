"""The console's routes, mounted on the fraud_scorer service under ``/console`` (``bentos/fraud_scorer``).

``/console/`` is the page, ``/console/static/*`` its script and style (local files: the page loads nothing from
another origin, and its Content-Security-Policy says so). The JSON routes under ``/console/api`` are read-only
and need the serving API key: the loop's status, one indexed document with its passages, and the prediction
log's rows of one scoring (the features exactly as the model saw them). ``/score`` itself is untouched.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from gyre.config import Settings

CONSOLE_PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
# Everything from this origin only: no CDN, no inline script, nothing framed.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def create_app(settings: Settings, keys: tuple[str, ...] | None = None) -> FastAPI:
    """The console app; ``keys`` default to the ones the request guard accepts."""
    from gyre.serving.guard import accepted_keys, key_matches

    accepted = keys if keys is not None else accepted_keys(settings)

    def api_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if not x_api_key or not key_matches(x_api_key, accepted):
            raise HTTPException(401, "missing or invalid X-API-Key", {"www-authenticate": "ApiKey"})

    app = FastAPI(title="Gyre analyst console", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    keyed = [Depends(api_key)]

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=SECURITY_HEADERS)

    @app.get("/api/loop", dependencies=keyed)
    def loop() -> dict[str, Any]:
        from gyre.console.loop import loop_status

        return loop_status(settings)

    @app.get("/api/document", dependencies=keyed)
    def document(source: Annotated[str, Query(min_length=1, max_length=512)]) -> dict[str, Any]:
        from gyre.db import engine, query
        from gyre.rag.schema import ensure_schema

        ensure_schema()
        with engine().connect() as connection:
            rows = connection.execute(query("console/document.sql"), {"source": source}).mappings().all()
        if not rows:
            raise HTTPException(404, f"{source!r} is not in the live document index")
        first = rows[0]
        passages = [{k: row[k] for k in ("chunk_id", "ordinal", "heading", "content")} for row in rows]
        return {k: first[k] for k in ("source", "title", "category", "team", "tags")} | {"passages": passages}

    @app.get("/api/predictions/{request_id}", dependencies=keyed)
    def prediction(request_id: uuid.UUID) -> list[dict[str, Any]]:
        """The logged rows of one scoring; 404 until the writer has inserted them (at most ~200 ms later)."""
        from gyre.db import engine, query

        with engine().connect() as connection:
            rows = connection.execute(query("console/prediction.sql"), {"request_id": request_id}).mappings().all()
        if not rows:
            raise HTTPException(404, f"no logged prediction for request {request_id} (yet)")
        return [dict(row) | {"scored_at": row["scored_at"].isoformat()} for row in rows]

    return app
