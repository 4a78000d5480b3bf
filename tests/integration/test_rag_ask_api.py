"""POST /ask and /ask_stream on the fraud_scorer BentoML service, through its ASGI app: the same API key
and rate limit as /score, an extractive answer without an Anthropic key, 400 for a bad filter, 422 for a bad
body, server-sent events when streaming; answers do not wait for the fraud model to be ready."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gyre.config import get_settings, load_settings
from gyre.rag import indexer
from gyre.services.credentials import load_or_create
from tests.integration import rag_support, serving_support

pytestmark = pytest.mark.integration
SERVICE = Path(__file__).resolve().parents[2] / "bentos" / "fraud_scorer" / "service.py"
DOCUMENTS = ["policies/chargeback-policy.md", "policies/escalation-policy.md", "glossary/fraud-terms.md"]


@pytest.fixture(scope="module")
def client(database_url: str, redis_url: str, mlflow_tracking_uri: str, tmp_path_factory) -> Iterator[Any]:
    rag_support.reset_tables()
    root = tmp_path_factory.mktemp("ask")
    folder = rag_support.copy_corpus(root / "docs", DOCUMENTS)
    golden = root / "golden.json"
    golden.write_text(json.dumps([{"question": "Who is paged for a SEV1?", "documents": DOCUMENTS[1:2]}]))
    assert indexer.refresh(settings=load_settings(rag_docs_dir=folder, rag_golden_set=golden))["swap"]["swapped"]
    spec = importlib.util.spec_from_file_location("fraud_scorer_ask", SERVICE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    with serving_support.asgi_client(module.FraudScorer) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def key() -> dict[str, str]:
    return {"X-API-Key": load_or_create(get_settings().home)[0].serving_api_key}


def test_ask_needs_the_api_key(client, key) -> None:
    body = {"question": "How many days to raise a Visa chargeback?"}
    assert client.post("/ask", json=body).status_code == 401
    assert client.post("/ask", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/ask_stream", json=body).status_code == 401


def test_ask_answers_extractively_with_citations(client, key) -> None:
    response = client.post("/ask", json={"question": "How many days to raise a Visa chargeback?"}, headers=key)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["mode"] == "extractive" and result["answer"].startswith("Extractive answer")
    assert "policies/chargeback-policy.md" in {c["source"] for c in result["citations"]}
    filtered = client.post(
        "/ask", json={"question": "Who is paged?", "filters": {"category": ["policy"]}}, headers=key
    ).json()
    assert {s["source"] for s in filtered["sources"]} <= {
        "policies/chargeback-policy.md",
        "policies/escalation-policy.md",
    }


def test_bad_filters_and_bodies_are_4xx_with_a_reason(client, key) -> None:
    bad_key = client.post("/ask", json={"question": "x?", "filters": {"1=1; drop table rag_chunks": "x"}}, headers=key)
    assert bad_key.status_code == 400 and "allowed filters" in bad_key.json()["error"]  # one error shape
    assert client.post("/ask", json={"question": "x?", "verbose": True}, headers=key).status_code == 422
    assert client.post("/ask", json={"question": ""}, headers=key).status_code == 422
    stream_bad = client.post("/ask_stream", json={"question": "x?", "filters": {"owner": "me"}}, headers=key)
    assert stream_bad.status_code == 400


def test_ask_stream_sends_server_sent_events(client, key) -> None:
    with client.stream("POST", "/ask_stream", json={"question": "Who is paged for a SEV1?"}, headers=key) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    assert "event: delta" in text and "event: done" in text
    done = json.loads(text.split("event: done\ndata: ")[1].split("\n\n")[0])
    assert done["result"]["mode"] == "extractive" and done["result"]["citations"]


@pytest.mark.parametrize("control", ["\x00", "\x1b[31m", "\x7f", "\x85"])
def test_control_characters_in_a_question_are_refused_without_echoing_it(client, key, control: str) -> None:
    question = f"How many days to raise a Visa chargeback?{control} secret-card-4111"
    for route in ("/ask", "/ask_stream"):
        response = client.post(route, json={"question": question}, headers=key)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "invalid request"
        assert [(d["field"], d["type"]) for d in body["detail"]] == [("question", "value_error")]
        assert "control characters" in body["detail"][0]["message"]
        assert "secret-card" not in response.text
    nul_filter = client.post("/ask", json={"question": "Who is paged?", "filters": {"team": "ops\x00"}}, headers=key)
    assert nul_filter.status_code == 400 and "control characters" in nul_filter.text


def test_tabs_and_newlines_in_a_question_are_ordinary_text(client, key) -> None:
    response = client.post("/ask", json={"question": "Who is paged\tfor a\r\nSEV1?"}, headers=key)
    assert response.status_code == 200, response.text


def test_a_database_error_names_the_statement_but_not_its_parameters(database_url: str) -> None:
    import sqlalchemy as sa

    from gyre.db import engine

    with pytest.raises(sa.exc.DataError) as error, engine().connect() as connection:
        connection.execute(sa.text("select cast(:question as text)"), {"question": "secret-card-4111\x00"})
    assert "select cast" in str(error.value) and "secret-card" not in str(error.value)
