"""Great Expectations' Data Docs as the Airflow plugin serves them, written by a real load of the validation stage:
each page and the files it loads come from the platform, none from a CDN, in a real Chromium too.

The app is taken from the plugin class itself, so the test covers what Airflow's API server mounts.
"""

from __future__ import annotations

import datetime as dt
import re
import runpy
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gyre.data.writer import write_day
from gyre.ingest.load import ingest
from gyre.validation.web import DATA_DOCS_PREFIX
from tests.integration import ingest_support, serving_support

pytestmark = pytest.mark.integration
conninfo = ingest_support.conninfo
PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "gyre_links.py"
DAY = dt.date(2033, 2, 7)  # a day no other test loads
BASE = "http://testserver/"


class Loads(HTMLParser):
    """What a page makes the browser fetch (scripts, stylesheets, icons, images, CSS ``url()``), and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.links: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img") and values.get("src"):
            self.fetched.append(values["src"])
        elif tag == "link" and values.get("href"):
            self.fetched.append(values["href"])
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.fetched.extend(css_urls(data))


def css_urls(css: str) -> list[str]:
    return [url for url in re.findall(r"url\(['\"]?([^'\")]+)", css) if not url.startswith("data:")]


@pytest.fixture(scope="module")
def plugin() -> type:
    return runpy.run_path(str(PLUGIN))["GyreLinks"]


@pytest.fixture(scope="module")
def app(plugin: type) -> FastAPI:
    (mounted,) = [entry["app"] for entry in plugin.fastapi_apps if entry["url_prefix"] == DATA_DOCS_PREFIX]
    return mounted


@pytest.fixture(scope="module")
def pages(conninfo: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Site-relative paths of the index and the pages one day's load of transactions published."""
    landing = tmp_path_factory.mktemp("landing")
    write_day(landing, DAY, seed=5)
    report = ingest("transactions", DAY, landing=landing, conninfo=conninfo)
    site = report.docs_path.parent
    written = sorted(path.relative_to(site).as_posix() for path in site.rglob(f"*{DAY.isoformat()}*.html"))
    assert len(written) == 2, written  # the file's row rules and the day's batch rules
    return ["", *written]


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_the_plugin_links_the_data_docs_it_mounts(plugin: type) -> None:
    assert f"{DATA_DOCS_PREFIX}/" in [view["href"] for view in plugin.external_views]


def test_every_page_loads_only_files_the_platform_serves(client: TestClient, pages: list[str]) -> None:
    fetched: set[str] = set()
    for path in pages:
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
        assert "Validation" in page.text or "Expectation" in page.text, path
        parsed = Loads()
        parsed.feed(page.text)
        external = set(re.findall(r"https?://[^\s\"'()<>]+", page.text))
        # What is left are links a reader may follow (GE's documentation), never a file the page loads.
        assert external <= set(parsed.links), (path, external - set(parsed.links))
        assert all(not url.startswith(("http:", "https:", "//")) for url in parsed.fetched), (path, parsed.fetched)
        fetched |= {urljoin(BASE + path, url) for url in parsed.fetched}
    assert len(fetched) >= 15  # GE's styles, scripts and logo, and the site's favicon
    stylesheets = set()
    for url in sorted(fetched):
        response = client.get(urlsplit(url).path)
        assert response.status_code == 200 and response.content, url
        if urlsplit(url).path.endswith(".css"):
            stylesheets |= {urljoin(url, inner) for inner in css_urls(response.text)}
    for url in sorted(stylesheets):  # Font Awesome's web fonts
        assert not url.startswith("http") or url.startswith(BASE), url
        assert client.get(urlsplit(url).path).status_code == 200, url


def test_only_the_site_and_the_mapped_packages_are_served(client: TestClient) -> None:
    assert client.get("/_assets/jquery/dist/jquery.min.js").status_code == 200
    for outside in (
        "/_assets/jquery/..%2F..%2Fpackage-lock.json",
        "/_assets/vega-util/build/vega-util.min.js",  # installed, but not a file the pages load
        "/..%2F..%2Fsecrets.env",
        "/static/..%2F..%2Fgx%2Fgreat_expectations.yml",
        "/no-such-page.html",
    ):
        assert client.get(outside).status_code == 404, outside


def test_a_browser_draws_the_pages_without_leaving_the_machine(app: FastAPI, pages: list[str], browser: Any) -> None:
    """bootstrap-table draws the tables from the page's data, so rows on screen prove the scripts ran."""
    with serving_support.asgi_server(app) as url:
        context = browser.new_context()
        context.set_default_timeout(15_000)
        tab = context.new_page()
        requested: list[str] = []
        failed: list[str] = []
        tab.on("request", lambda request: requested.append(request.url))
        tab.on("requestfailed", lambda request: failed.append(request.url))
        tab.goto(f"{url}/")
        tab.wait_for_selector("table tbody tr td")
        assert DAY.isoformat() in tab.inner_text("body")
        assert tab.evaluate("typeof jQuery.fn.bootstrapTable") == "function"
        tab.goto(f"{url}/{pages[1]}")
        tab.wait_for_selector("table tbody tr td")
        # Font Awesome's stylesheet and its web font, both from here: the status icons draw.
        loaded = "[...document.fonts].some(f => f.family.includes('Font Awesome') && f.status === 'loaded')"
        tab.wait_for_function(loaded)
        context.close()
    assert requested and {urlsplit(request).hostname for request in requested} == {"127.0.0.1"}, requested
    assert failed == []
