"""The Great Expectations Data Docs as pages of the platform, with every asset served locally.

Mounted inside Airflow's API server by the ``gyre_links`` plugin (``fastapi_apps``), beside the drift reports.
GE's templates load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs, and GE's logo from S3:
without the network a page is unstyled and its tables (drawn by bootstrap-table) are empty. Each page and stylesheet is
served with those URLs pointing at the same files under ``web/node_modules`` (installed by ``make install``
from ``web/package-lock.json``) or at GE's own copy in the site, relative to the page so any mount prefix works.
A URL this map does not know is left alone; the tests fail on any that still loads from elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

from gyre.config import Settings, get_settings
from gyre.validation import docs_dir

DATA_DOCS_PREFIX = "/gyre/data-docs"  # where plugins/gyre_links.py mounts this app in the Airflow API server
ASSETS = "_assets"  # the site-relative folder the packages' files are served under

# Each URL GE 1.24's templates load, and the site-relative file that replaces it. Popper is 1.16.1, the release
# Bootstrap 4.3.1 asks for (GE names 1.12.9); bootstrap-table's filter-control stylesheet is 1.19.1's (GE: 1.19.0).
LOCAL_COPIES = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}  # fmt: skip
_GE_S3 = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com"
# GE's logo, which its templates take from S3 with the data context's id in the query; the site has a copy.
SITE_COPIES = {f"{_GE_S3}/{name}": "static/images/logo-long.png" for name in ("logo-long.png", "full_logo_dark.png")}
_REPLACEMENTS = {**{url: f"{ASSETS}/{path}" for url, path in LOCAL_COPIES.items()}, **SITE_COPIES}
_URL = re.compile(r"https?://[^\s\"'()<>]+")
# Subresource integrity pins the CDN's bytes (Popper's differ); the files now come from this server.
_INTEGRITY = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="anonymous")')
# The site's own static folder, by however many "../" GE wrote (its favicon link on validation pages is one short).
_SITE_STATIC = re.compile(r"(?:\.\./)+static/")
_REWRITTEN = {".html", ".css"}


def _package(path: str) -> str:
    """The npm package a ``node_modules``-relative path lies in (scoped packages have two parts)."""
    parts = path.split("/")
    return "/".join(parts[:2] if parts[0].startswith("@") else parts[:1])


_PACKAGES = {_package(path) for path in LOCAL_COPIES.values()}


def localize(text: str, depth: int) -> str:
    """``text`` (a page or stylesheet ``depth`` folders below the site root) with every CDN URL it loads
    pointing at the local copy, and every link to the site's static folder at that folder, relative to it."""
    up = "../" * depth

    def local(match: re.Match[str]) -> str:
        copy = _REPLACEMENTS.get(match.group(0).split("?")[0])
        return match.group(0) if copy is None else up + copy

    return _INTEGRITY.sub("", _URL.sub(local, _SITE_STATIC.sub(up + "static/", text)))


def assets_dir(settings: Settings) -> Path:
    return settings.project_root / "web" / "node_modules"


def _inside(root: Path, relative: str) -> Path:
    """``root / relative`` if it is a file under ``root``; 404 otherwise (a path never leaves the folder)."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise HTTPException(404, f"no such file: {relative}")
    return path


def create_app() -> FastAPI:
    app = FastAPI(title="Gyre Data Docs", description="Great Expectations validation results, with local assets")

    @app.get(f"/{ASSETS}/{{path:path}}")
    def asset(path: str) -> FileResponse:
        package = _package(path)
        if package not in _PACKAGES:
            raise HTTPException(404, f"no such asset: {path}")
        return FileResponse(_inside(assets_dir(get_settings()) / package, path.removeprefix(package + "/")))

    @app.get("/{path:path}")
    def site(path: str) -> Response:
        root = docs_dir(get_settings())
        if path in ("", "index.html") and not (root / "index.html").is_file():
            return HTMLResponse(
                "<!doctype html><html><head><meta charset='utf-8'><title>Gyre Data Docs</title></head>"
                "<body style='font-family:sans-serif;margin:2em'><h1>Data Docs</h1><p>No validation result yet: each"
                " load of the <code>ingest_transactions</code> DAG publishes its results here.</p></body></html>"
            )
        file = _inside(root, path or "index.html")
        if file.suffix not in _REWRITTEN:
            return FileResponse(file)
        media = "text/html" if file.suffix == ".html" else "text/css"
        return Response(localize(file.read_text(encoding="utf-8"), path.count("/")), media_type=media)

    return app
