"""The served OpenAPI document, made true to what the request guard enforces and answers.

BentoML derives the schema from the API signatures; the guard validates bodies with its own models (length
limits, batch size, no extra fields, strict numbers) and answers 401, 413, 415, 422, 429 and 503 before
BentoML runs, in one error shape. This rewrites the request and response schemas of the guarded routes from
those models, so a client (or schemathesis) sees exactly the contract that is enforced.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from gyre.serving.schema import ErrorBody, ScoreResult

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


def amend(spec: dict[str, Any], bodies: dict[str, type[BaseModel]]) -> dict[str, Any]:
    """``spec`` with the guarded routes' bodies, results and refusals as the guard really has them."""
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
