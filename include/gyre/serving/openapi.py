"""The served OpenAPI document, made true to what the request guard enforces and answers.

BentoML derives the schema from the API signatures; the guard validates bodies with its own models (length
limits, batch size, no extra fields, strict numbers) and answers 401, 413, 415, 422, 429 and 503 before
BentoML runs, in one error shape. This rewrites the request and response schemas of the guarded routes from
those models, so a client (or schemathesis) sees exactly the contract that is enforced, with Gyre's version and
request examples that validate (Swagger's "Try it out" sends them as they are).

``docs_page`` is BentoML's Swagger page without its Google Tag Manager snippet: the endpoint runs where the
outside world may not be reachable and must not be told who reads its documentation.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from gyre.serving.schema import ErrorBody, ScoreResult, Transaction

REF = "#/components/schemas/{model}"
REFUSALS = {
    "401": "missing or invalid X-API-Key",
    "413": "body larger than GYRE_SERVING_MAX_BODY_BYTES",
    "415": "not application/json (pickled bodies are refused)",
    "422": "invalid body: the fields and why",
    "429": "rate limit exceeded (Retry-After says when to come back)",
    "503": "not ready (no champion yet) or a dependency does not answer",
}


# /ask_stream's events as a client parses them: ``delta`` (data: {"text"}) then ``done`` (data: {"result"}).
STREAM_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {"event": {"enum": ["delta", "done"]}, "data": {"type": "string", "description": "JSON"}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def example_transaction(now: dt.datetime) -> dict[str, Any]:
    """A transaction the endpoint accepts (an unseen customer and merchant: scored on the model's defaults)."""
    example = {
        "transaction_id": "T-example-0001", "customer_id": "C-example", "merchant_id": "M-example",
        "event_timestamp": now.replace(microsecond=0).isoformat(), "amount": 42.5, "channel": "ecom",
        "mcc": "5411", "merchant_country": "DE", "customer_country": "DE", "card_age_days": 400, "currency": "EUR",
    }  # fmt: skip
    Transaction.model_validate(example)  # an example that does not validate is a bug here, not a 422 there
    return example


QUESTION = {"question": "How does the platform decide to retrain the fraud model?"}
EXAMPLES = {
    "/score": lambda t: {"transaction": t},
    "/score_batch": lambda t: {"transactions": [t, {**t, "transaction_id": "T-example-0002", "amount": 980.0}]},
    "/ask": lambda _: QUESTION,
    "/ask_stream": lambda _: QUESTION,
}


@functools.cache
def docs_page() -> bytes:
    """BentoML's Swagger UI page (its assets are served locally by BentoML) without the tag manager."""
    import _bentoml_impl.server

    page = (Path(_bentoml_impl.server.__file__).parent / "main-openapi.html").read_text()
    page = re.sub(r"<!-- Google Tag Manager.*?<!-- End Google Tag Manager[^>]*-->", "", page, flags=re.S)
    return page.replace("BentoML Prediction Service", "Gyre fraud scoring").encode()


def amend(spec: dict[str, Any], bodies: dict[str, type[BaseModel]]) -> dict[str, Any]:
    """``spec`` with the guarded routes' bodies, results and refusals as the guard really has them."""
    spec.setdefault("info", {}).update(title="Gyre fraud scoring", version=importlib.metadata.version("gyre"))
    transaction = example_transaction(dt.datetime.now(dt.UTC))
    models = [*dict.fromkeys(bodies.values()), ErrorBody, ScoreResult]
    refs, definitions = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    components = spec.setdefault("components", {})
    components.setdefault("securitySchemes", {})["ApiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    schemas = components.setdefault("schemas", {})
    schemas.update(definitions.get("$defs", {}))
    error = refs[(ErrorBody, "validation")]
    results = {
        "/score": refs[(ScoreResult, "validation")],
        "/score_batch": TypeAdapter(list[ScoreResult]).json_schema(ref_template=REF),
    }
    for path, model in bodies.items():
        operation = spec.get("paths", {}).get(path, {}).get("post")
        if operation is None:
            continue
        operation["requestBody"] = {"required": True, **_json(refs[(model, "validation")], "the request")}
        if path in EXAMPLES:
            operation["requestBody"]["content"]["application/json"]["example"] = EXAMPLES[path](transaction)
        operation["security"] = [{"ApiKey": []}]
        responses = operation.setdefault("responses", {})
        if path in results:
            responses["200"] = _json(results[path], "scored")
            for status in ("400", "404"):  # never answered on these routes: the guard refuses with 4xx above
                responses.pop(status, None)
        elif "text/event-stream" in responses.get("200", {}).get("content", {}):
            responses["200"]["content"]["text/event-stream"]["schema"] = STREAM_EVENT
        responses.update({status: _json(error, why) for status, why in REFUSALS.items()})
    readyz = spec.get("paths", {}).get("/readyz", {})
    for method in [m for m in readyz if m not in ("get", "head")]:
        readyz.pop(method)
    if "get" in readyz:
        readyz["get"]["responses"] = {
            "200": _json({"type": "object"}, "ready, with the served versions"),
            "503": _json({"type": "object"}, "not ready, with the reasons"),
        }
    return spec
