"""The analyst console in a real headless Chromium (Debian's, driven by Playwright) against the fraud_scorer
service answering HTTP on a loopback port, on the real registry, Postgres, pgvector and Redis: the key is asked
once and a wrong one refused, a question's answer streams in with its passages linked to their document, a
scored transaction shows its verdict and the features as logged, and the loop panel shows the champion, its
alias history, the last drift check, retrain and gate, with their links. One test saves docs/console.png."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gyre.config import get_settings, load_settings
from gyre.db import engine, query
from gyre.rag import indexer
from gyre.rag.schema import ensure_schema
from gyre.services.credentials import load_or_create
from tests.integration import rag_support, serving_support
from tests.integration.wire_servers import MessagesHandler, MessagesState, serving

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "bentos" / "fraud_scorer" / "service.py"
SCREENSHOT = ROOT / "docs" / "console.png"
DOCUMENTS = ["policies/chargeback-policy.md", "policies/escalation-policy.md", "glossary/fraud-terms.md"]
ANSWER = "Raise Visa chargebacks within 120 calendar days [1]; a SEV1 pages the on-call lead [2]."
USAGE = {"input_tokens": 900, "output_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
NIGHT = dt.datetime(2031, 1, 6, tzinfo=dt.UTC)  # newer than any other test's night: the one the panel shows
TIMEOUT_MS = 15_000
JUDGED = {"day": NIGHT.date(), "method": "embedding_overlap", "judge_model": None, "answers": 40, "scored": 12,
          "faithfulness": 0.61, "relevance": 0.48, "below": ["relevance"]}  # fmt: skip


@pytest.fixture(scope="module")
def platform(mlflow_tracking_uri: str, database_url: str, redis_url: str, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A champion (v1, v2 challenger), three indexed documents, a drift night that asked for a retrain, a
    stand-in Messages API, and the service answering HTTP with them."""
    from gyre.features.materialize import apply_if_changed
    from gyre.monitoring import store
    from gyre.monitoring.decision import Decision
    from gyre.monitoring.drift import ColumnDrift, DriftResult, Quality

    apply_if_changed()
    rag_support.reset_tables()
    root = tmp_path_factory.mktemp("console")
    folder = rag_support.copy_corpus(root / "docs", DOCUMENTS)
    golden = root / "golden.json"
    golden.write_text(json.dumps([{"question": "Who is paged for a SEV1?", "documents": DOCUMENTS[1:2]}]))
    assert indexer.refresh(settings=load_settings(rag_docs_dir=folder, rag_golden_set=golden))["swap"]["swapped"]

    name = f"fraud_console_{uuid.uuid4().hex[:8]}"
    settings = load_settings(model_name=name, training_min_rows=500, training_estimator="logistic_regression")
    first, second = serving_support.register_versions(settings, 2)
    serving_support.promote(settings, first)
    drift = DriftResult(
        features={"txn_amount": ColumnDrift("txn_amount", "psi", 0.31, 0.1, 0.31)},
        prediction=ColumnDrift("prediction", "psi", 0.04, 0.1, 0.04),
        reference_rows=5000,
        current_rows=2899,
        html_path=root / "report.html",
        json_path=root / "report.json",
        quality=Quality(rows=2899, roc_auc=0.452, precision=None, recall=None, positives=16),
    )
    reasons = ["ROC-AUC fell 0.493 below the reference (limit 0.05 + 0.137 sampling error)"]
    store.record_night(NIGHT, NIGHT + dt.timedelta(days=1), first, drift, Decision(True, reasons), "run-console-1")
    ensure_schema()
    with engine().begin() as connection:  # a day the judge_answers DAG scored offline, relevance under its floor
        connection.execute(query("rag/upsert_answer_quality.sql"), JUDGED)

    with serving(MessagesHandler, MessagesState(ANSWER, USAGE)) as messages_url:
        env = {
            "GYRE_MODEL_NAME": name,
            "GYRE_SERVING_POLL_INTERVAL_S": "0.3",
            "GYRE_SERVING_RATE_LIMIT": "100000",
            "GYRE_ANTHROPIC_API_KEY": "sk-ant-local-test",
            "GYRE_ANTHROPIC_BASE_URL": messages_url,
        }
        with serving_support.serving_env(**env):
            spec = importlib.util.spec_from_file_location("fraud_scorer_console", SERVICE)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            with serving_support.http_server(module.FraudScorer) as url:
                deadline = time.monotonic() + 60
                while httpx.get(f"{url}/readyz", timeout=5).status_code != 200:  # until the champion is loaded
                    assert time.monotonic() < deadline, httpx.get(f"{url}/readyz", timeout=5).text
                    time.sleep(0.1)
                yield {"url": url, "name": name, "versions": (first, second)}
    with engine().begin() as connection:
        for table in ("drift_reports", "feature_drift", "retrain_decisions"):
            connection.execute(sa.text(f"delete from {table} where interval_start = :night"), {"night": NIGHT})
        connection.execute(sa.text("delete from rag_answer_quality where day = :day"), {"day": NIGHT.date()})


@pytest.fixture(scope="module")
def api_key() -> str:
    return load_or_create(get_settings().home)[0].serving_api_key


@pytest.fixture(scope="module")
def page(browser, platform, api_key) -> Iterator[Any]:
    """One tab, logged in once, recording every URL it requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.requested = []
    tab.on("request", lambda request: tab.requested.append(request.url))
    tab.goto(f"{platform['url']}/console/")
    tab.fill("#key", api_key)
    tab.click("#key-form button")
    tab.wait_for_selector("#console", state="visible")
    yield tab
    context.close()


def test_the_key_is_asked_once_kept_in_the_tab_and_a_wrong_one_refused(browser, platform, api_key) -> None:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    response = tab.goto(f"{platform['url']}/console/")
    assert response.status == 200 and "default-src 'self'" in response.headers["content-security-policy"]
    assert tab.is_visible("#login") and not tab.is_visible("#console")
    for asset in ("/console/", "/console/static/console.js", "/console/static/console.css"):
        assert api_key not in httpx.get(platform["url"] + asset, timeout=10).text, asset
    assert httpx.get(f"{platform['url']}/console/api/loop", timeout=10).status_code == 401

    tab.fill("#key", "not-the-key")
    tab.click("#key-form button")
    tab.wait_for_selector("#key-error:has-text('refused')")
    assert not tab.is_visible("#console")

    tab.fill("#key", api_key)
    tab.click("#key-form button")
    tab.wait_for_selector(f"#champion-version:has-text('v{platform['versions'][0]}')")
    tab.reload()  # the key is kept for the tab: no second prompt
    tab.wait_for_selector("#console", state="visible")
    assert not tab.is_visible("#login")
    assert tab.evaluate("Object.keys(localStorage).length") == 0  # nothing outlives the tab
    tab.click("#forget")
    assert tab.is_visible("#login") and tab.evaluate("sessionStorage.length") == 0
    context.close()


def test_a_question_streams_its_answer_with_passages_linked_to_their_documents(page) -> None:
    page.fill("#question", "How many days do we have to raise a Visa chargeback, and who is paged for a SEV1?")
    page.click("#ask-form button")
    page.wait_for_selector("#citations li a.source")
    assert page.inner_text("#answer") == ANSWER
    assert page.inner_text("#answer-mode").startswith("generated by ")
    assert page.locator("#answer a.cite").count() == 2  # [1] and [2] point at their citation
    sources = page.locator("#citations li").all_inner_texts()
    assert len(sources) == 2 and all(any(doc in text for doc in DOCUMENTS) for text in sources), sources
    cited = page.locator("#citations li a.source").first
    expected_heading = cited.inner_text().split(" — ")[-1]
    cited.click()
    page.wait_for_selector("#document .passage.cited")
    assert page.inner_text("#document-meta").split(" · ")[0] in DOCUMENTS
    assert page.inner_text("#document .passage.cited strong") == expected_heading
    assert page.locator("#document .passage").count() >= 1
    assert "3 documents" in page.inner_text("#kb-status")


def test_a_scored_transaction_shows_score_decision_version_and_the_features_used(page, platform, api_key) -> None:
    from gyre.registry import models

    key = {"X-API-Key": api_key}
    page.fill("#score-form input[name=amount]", "1899.00")
    page.click("#score-form button")
    page.wait_for_selector("#features tbody tr")
    score = float(page.inner_text("#verdict-score"))
    assert 0.0 <= score <= 1.0
    assert page.inner_text("#verdict-decision").split(" (")[0] in ("approve", "decline / review")
    assert page.inner_text("#verdict-model") == f"{platform['name']} v{platform['versions'][0]}"
    shown = dict(row.split("\t", 1) for row in page.locator("#features tbody tr").all_inner_texts())
    loaded = models.load(platform["name"], platform["versions"][0])
    assert set(shown) == {*loaded.numeric, *loaded.categorical}
    request_id = page.inner_text("#features-status").rsplit(" ", 1)[-1]
    logged = httpx.get(f"{platform['url']}/console/api/predictions/{request_id}", headers=key, timeout=10).json()
    champion = next(row for row in logged if row["role"] == "champion")
    assert champion["score"] == pytest.approx(score, abs=1e-4) and len(shown) == len(champion["features"])
    assert page.inner_text("#score-error") == ""


def test_the_loop_panel_shows_champion_history_drift_retrain_gate_and_links(page, platform) -> None:
    from gyre.registry import models
    from gyre.services.endpoints import airflow_url, mlflow_url

    first, second = platform["versions"]
    page.click("#refresh")
    page.wait_for_selector("#drift-decision:has-text('retrain (requested)')")
    assert page.inner_text("#champion-version") == f"v{first}"
    assert f"challenger: v{second}" in page.inner_text("#loop-champion")
    assert f"night {NIGHT:%Y-%m-%d}" in page.inner_text("#loop-drift")
    assert "txn_amount" in page.inner_text("#loop-drift") and "0.452" in page.inner_text("#loop-drift")
    assert page.inner_text("#gate-result") == f"promoted v{first}"
    assert f"night {NIGHT:%Y-%m-%d} asked for a retrain (v{first}): requested" in page.inner_text("#loop-retrain")
    actions = [row.split("\t")[1] for row in page.locator("#history tbody tr").all_inner_texts()]
    assert "promote" in actions and "challenger" in actions
    answers = page.inner_text("#loop-answers")
    assert f"{NIGHT:%Y-%m-%d}: faithfulness 0.61 · relevance 0.48 — 12 of 40 answers, embedding overlap" in answers
    assert page.inner_text("#answers-below") == "relevance"

    airflow, mlflow = airflow_url(), mlflow_url()
    links = [(a.inner_text(), a.get_attribute("href")) for a in page.locator("#loop a").all()]
    hrefs = dict(links)
    assert hrefs["Evidently report"] == f"{airflow}/gyre/drift/reports/{NIGHT:%Y-%m-%dT%H%M}/{first}"
    champion_run = models.client().get_model_version(platform["name"], first).run_id
    runs = {href for text, href in links if text == "MLflow run"}
    assert runs == {f"{mlflow}/#/runs/{champion_run}", f"{mlflow}/#/runs/run-console-1"}
    assert hrefs["monitor_drift DAG"] == f"{airflow}/dags/monitor_drift"
    assert hrefs["train_model DAG"] == f"{airflow}/dags/train_model"
    assert hrefs["judge_answers DAG"] == f"{airflow}/dags/judge_answers"
    # Every request the page made stayed on the service's origin (no CDN, nothing external).
    assert page.requested and all(url.startswith(platform["url"] + "/") for url in page.requested), page.requested

    SCREENSHOT.parent.mkdir(exist_ok=True)
    shot = SCREENSHOT.with_suffix(".tmp.png")
    page.screenshot(path=str(shot), full_page=True)
    shutil.move(shot, SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 20_000
