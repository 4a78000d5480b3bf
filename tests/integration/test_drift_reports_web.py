"""The drift-report pages the Airflow plugin mounts: the index, each report's files, and refusals.

The app is taken from the plugin class itself, so the test covers what Airflow's API server mounts.
"""

from __future__ import annotations

import runpy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gyre.config import get_settings
from gyre.monitoring.decision import Decision
from gyre.monitoring.drift import ColumnDrift, DriftResult, Quality
from gyre.monitoring.store import record_night

pytestmark = pytest.mark.integration
PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "gyre_links.py"
NIGHT = datetime(2031, 7, 14, tzinfo=UTC)


def result(html: Path, json_path: Path, quality: Quality | None = None) -> DriftResult:
    return DriftResult(
        features={"txn_amount": ColumnDrift("txn_amount", "Wasserstein distance (normed)", 0.3, 0.1, psi=0.4)},
        prediction=ColumnDrift("score", "Wasserstein distance (normed)", 0.05, 0.1, psi=0.02),
        reference_rows=3000,
        current_rows=2900,
        html_path=html,
        json_path=json_path,
        quality=quality,
    )


@pytest.fixture(scope="module")
def plugin() -> type:
    return runpy.run_path(str(PLUGIN))["GyreLinks"]


@pytest.fixture(scope="module")
def client(plugin: type, database_url: str) -> TestClient:
    reports = get_settings().home / "reports" / "drift" / "web-test"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "night.html").write_text("<html><body>txn_amount drifted</body></html>")
    (reports / "night.json").write_text('{"metrics": []}')
    (reports / "night-matured.html").write_text("<html><body>ROC AUC 0.61 on matured labels</body></html>")
    drifted = Decision(retrain=True, reasons=["key feature txn_amount drifted: PSI 0.400 >= 0.2"])
    matured = Quality(rows=2100, roc_auc=0.61, precision=None, recall=None, positives=30)
    night = result(reports / "night.html", reports / "night.json", matured)
    record_night(NIGHT, NIGHT + timedelta(days=1), "7", night, drifted, "run-web-1")
    # An index row pointing outside the reports folder must never be served.
    outside = Decision(retrain=False)
    later = NIGHT + timedelta(days=1)
    record_night(later, later + timedelta(days=1), "7", result(Path("/etc/hostname"), Path("/etc/hostname")), outside)
    return TestClient(plugin.fastapi_apps[0]["app"])


def test_the_plugin_links_to_the_reports_it_mounts(plugin: type) -> None:
    mounted = plugin.fastapi_apps[0]["url_prefix"]
    assert not any(mounted.startswith(p) for p in ("/api/v2", "/ui", "/execution", "/auth", "/pluginsv2"))
    hrefs = [view["href"] for view in plugin.external_views]
    assert f"{mounted}/" in hrefs
    assert hrefs[0].startswith("http://127.0.0.1:")  # MLflow stays the first link


def test_the_index_lists_reports_by_night_and_version(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "2031-07-14" in page.text and "retrain (requested)" in page.text
    assert 'href="reports/2031-07-14T0000/7"' in page.text
    listed = client.get("/api/reports", params={"limit": 1000}).json()
    ours = [row for row in listed if row["night"] == "2031-07-14T0000" and row["model_version"] == "7"]
    assert ours and ours[0]["drifted_features"] == ["txn_amount"] and ours[0]["retrain"] is True
    assert "html_path" not in ours[0]  # local paths stay on the server


def test_a_report_is_served_as_html_and_json(client: TestClient) -> None:
    page = client.get("/reports/2031-07-14T0000/7")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "txn_amount drifted" in page.text
    assert client.get("/reports/2031-07-14T0000/7/json").json() == {"metrics": []}


def test_a_report_opens_with_gyres_decision_and_links_the_matured_quality_report(client: TestClient) -> None:
    page = client.get("/reports/2031-07-14T0000/7").text
    banner = page[page.index('<div id="gyre-decision"') : page.index("txn_amount drifted</body>")]
    assert "Night 2031-07-14, model version 7: retrain (requested)" in banner
    assert "key feature txn_amount drifted: PSI 0.400 &gt;= 0.2" in banner
    assert "ROC-AUC on matured labels 0.610" in banner and "Evidently's headline below is its own rule" in banner
    assert '<a href="7/matured">quality on matured labels</a>' in banner and "/#/runs/run-web-1" in banner
    quality = client.get("/reports/2031-07-14T0000/7/matured")
    assert quality.status_code == 200 and "ROC AUC 0.61 on matured labels" in quality.text
    assert 'href="reports/2031-07-14T0000/7/matured">quality</a>' in client.get("/").text
    missing = client.get("/reports/2031-07-15T0000/7/matured")
    assert missing.status_code == 404 and "matured-labels quality report" in missing.json()["detail"]


def test_bad_requests_get_clear_4xx(client: TestClient) -> None:
    malformed = client.get("/reports/yesterday/7")
    assert malformed.status_code == 400 and "2026-03-20T0000" in malformed.json()["detail"]
    unknown = client.get("/reports/2031-07-14T0000/99")
    assert unknown.status_code == 404 and "no drift report" in unknown.json()["detail"]
    outside = client.get("/reports/2031-07-15T0000/7")
    assert outside.status_code == 404 and "not on this machine" in outside.json()["detail"]
    assert client.get("/", params={"limit": 0}).status_code == 422
