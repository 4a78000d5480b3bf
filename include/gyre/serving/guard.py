"""The request guard in front of the scoring routes: API key, size, content type, rate limit, readiness, validation.

It is plain ASGI middleware so every check answers before BentoML parses anything, each with a 4xx (or 503)
and a message a caller can act on; an invalid body gets 422 with the failing fields (BentoML itself would say
400). It also answers ``/readyz`` with the reasons, which BentoML's own probe cannot give.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from gyre.config import Settings
from gyre.rag.api import AskRequest
from gyre.serving import runtime as runtime_module
from gyre.serving.features import FeaturesUnavailable
from gyre.serving.ratelimit import RateLimiter
from gyre.serving.schema import ScoreRequest, ScoreResult, Transaction, batch_request

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

REFUSED_TYPES = ("application/vnd.bentoml+pickle", "application/python-pickle", "application/x-python-pickle")
# Answers come from the document index, not the fraud model: they do not wait for a champion to load.
ANSWER_ROUTES = ("/ask", "/ask_stream")
# Answered here, on the event loop, once the body is validated: BentoML's per-request machinery (routing, IO
# descriptors, a thread hop, response models) costs several times the scoring itself (see bench/serve.py).
SCORING_ROUTES = ("/score", "/score_batch")
READYZ_TIMEOUT_S = 0.5
_RESULTS = TypeAdapter(list[ScoreResult])


def accepted_keys(settings: Settings) -> tuple[str, ...]:
    """The generated serving key plus any configured in ``GYRE_SERVING_API_KEYS``."""
    from gyre.services.credentials import load_or_create

    creds, _ = load_or_create(settings.home)
    extra = settings.serving_api_keys.get_secret_value().split(",") if settings.serving_api_keys else []
    return tuple(k for k in (creds.serving_api_key, *(e.strip() for e in extra)) if k)


def key_matches(given: str, keys: Iterable[str]) -> bool:
    """Constant-time comparison against every key (no early exit that would time which one is close)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


def _field_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in error.errors(include_url=False, include_context=False, include_input=False)
    ]


class RequestGuard:
    def __init__(self, app: App, settings: Settings, keys: tuple[str, ...] | None = None) -> None:
        self.app = app
        self.settings = settings
        self.keys = keys if keys is not None else accepted_keys(settings)
        self.bodies: dict[str, type[BaseModel]] = {
            "/score": ScoreRequest,
            "/score_batch": batch_request(settings.serving_max_batch),
            "/ask": AskRequest,
            "/ask_stream": AskRequest,
        }
        self._redis: Any = None
        self._openapi_doc: bytes | None = None  # the schema is fixed for the process: amended on first request
        self._answers_ready = False
        self.limiter = RateLimiter(
            settings.serving_rate_limit,
            settings.serving_rate_window_s,
            lambda: self.redis,
            on_error=self._limiter_error,
        )

    @staticmethod
    def _limiter_error(error: Exception) -> None:
        run = runtime_module.current()
        if run is not None:
            run.metrics.errors.labels("rate_limiter_sync").inc()

    @property
    def redis(self) -> Any:
        if self._redis is None:
            import redis.asyncio as aioredis

            from gyre.services.endpoints import redis_url

            self._redis = aioredis.from_url(redis_url(self.settings), socket_timeout=1.0, socket_connect_timeout=1.0)
        return self._redis

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/readyz":
            if scope["method"] not in ("GET", "HEAD"):
                return await _reply(send, 405, {"error": f"{scope['method']} not allowed"}, {"allow": "GET, HEAD"})
            return await self._readyz(send)
        if path == "/docs.json" and scope["method"] == "GET":
            return await self._openapi(scope, receive, send)
        if path == "/" and scope["method"] == "GET":
            from gyre.serving.openapi import docs_page

            return await _send(send, 200, docs_page(), content_type=b"text/html; charset=utf-8")
        model = self.bodies.get(path)
        if model is None or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = await self._guarded(scope, receive, send, model)
        endpoint = path.lstrip("/")
        run = runtime_module.current()
        if run is not None:
            run.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            run.metrics.responses.labels(endpoint, str(status)).inc()
            if status >= 500:
                run.metrics.errors.labels(f"http_{status}").inc()

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, model: type[BaseModel]) -> int:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-api-key")
        if not given:
            return await _reply(send, 401, {"error": "missing X-API-Key header"}, {"www-authenticate": "ApiKey"})
        if not key_matches(given, self.keys):
            return await _reply(send, 401, {"error": "invalid API key"}, {"www-authenticate": "ApiKey"})
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            what = "pickled bodies are refused" if "pickle" in media or media in REFUSED_TYPES else "unsupported"
            shown = media or "none"
            return await _reply(send, 415, {"error": f"{what}: content type {shown!r}; send application/json"})
        limit = self.settings.serving_max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _reply(send, 413, {"error": f"request body larger than {limit} bytes"})
        retry = self.limiter.admit(given)
        if retry is not None:
            rate, window = self.settings.serving_rate_limit, self.settings.serving_rate_window_s
            error = {"error": f"rate limit of {rate} requests per {window} s exceeded"}
            return await _reply(send, 429, error, {"retry-after": str(retry)})
        run = runtime_module.current()
        reason = "the service is starting" if run is None else run.not_ready_reason()
        if reason and scope["path"] not in ANSWER_ROUTES:
            return await _reply(send, 503, {"error": reason}, {"retry-after": "5"})
        if scope["path"] in ANSWER_ROUTES and (reason := await self._answers_unavailable()):
            return await _reply(send, 503, {"error": reason}, {"retry-after": "5"})
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 499
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return await _reply(send, 413, {"error": f"request body larger than {limit} bytes"})
        try:
            # Strict: `true` or "12.50" for a number is a client bug to report, not a value to guess.
            parsed = model.model_validate_json(body, strict=True)
        except ValidationError as error:
            if any(e["type"] == "json_invalid" for e in error.errors()):
                return await _reply(send, 422, {"error": "body is not valid JSON"})
            return await _reply(send, 422, {"error": "invalid request", "detail": _field_errors(error)})
        if scope["path"] in SCORING_ROUTES and run is not None:
            single = isinstance(parsed, ScoreRequest)
            transactions = [parsed.transaction] if single else parsed.transactions  # type: ignore[attr-defined]
            if far := self._far_from_now(transactions, single):
                return await _reply(send, 422, {"error": "invalid request", "detail": far})
            return await self._score(run, transactions, single, send)
        return await self._forward(scope, body, receive, send)

    async def _answers_unavailable(self) -> str | None:
        """Asked of the answers service (its own process) until it first says ready: its model does not unload."""
        if self._answers_ready:
            return None
        from gyre.rag.service import unavailable_reason

        reason = await unavailable_reason(READYZ_TIMEOUT_S)
        self._answers_ready = reason is None
        return reason

    def _far_from_now(self, transactions: list[Transaction], single: bool) -> list[dict[str, str]]:
        """Events stamped decades away are refused: they would be scored and logged as if they were today's."""
        skew = dt.timedelta(days=self.settings.serving_max_event_skew_days)
        now = dt.datetime.now(dt.UTC)
        field = "transaction" if single else "transactions.{}"
        return [
            {
                "field": f"{field.format(i)}.event_timestamp",
                "message": f"more than {self.settings.serving_max_event_skew_days:g} days from now",
                "type": "event_timestamp_out_of_range",
            }
            for i, transaction in enumerate(transactions)
            if abs(transaction.event_timestamp - now) > skew
        ]

    async def _score(
        self, run: runtime_module.Runtime, transactions: list[Transaction], single: bool, send: Send
    ) -> int:
        """Score on the event loop: the online read is awaited (with its timeout), nothing else blocks."""
        try:
            results = await run.score_async(transactions)
        except runtime_module.NotReady as why:
            return await _reply(send, 503, {"error": str(why)}, {"retry-after": "5"})
        except FeaturesUnavailable as why:
            run.metrics.errors.labels("online_store").inc()
            return await _reply(send, 503, {"error": str(why)}, {"retry-after": "1"})
        payload = results[0].model_dump_json().encode() if single else _RESULTS.dump_json(results)
        return await _send(send, 200, payload)

    async def _forward(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> int:
        """BentoML answers the route; an error's body is given the guard's one shape (BentoML sends a 4xx's
        ``{"error"}`` inside a list)."""
        sent = False
        status = 500
        error: list[bytes] | None = None

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            # later reads wait for the client: a streaming response listens here for a disconnect
            return await receive()

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status, error
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    error = []
                    return
            if error is None:
                return await send(message)
            error.append(message.get("body", b""))
            if not message.get("more_body", False):
                await _reply(send, status, _one_error(b"".join(error)))

        await self.app(scope, replay, watch)
        return status

    async def _openapi(self, scope: Scope, receive: Receive, send: Send) -> int:
        """BentoML's document, rewritten to the contract this guard enforces (gyre.serving.openapi), once."""
        from gyre.serving.openapi import amend

        if self._openapi_doc is not None:
            return await _send(send, 200, self._openapi_doc)
        parts: list[bytes] = []
        status = 500

        async def keep(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        if status != 200:
            return await _reply(send, status, {"error": "the OpenAPI document is not available"})
        self._openapi_doc = json.dumps(amend(json.loads(b"".join(parts)), self.bodies)).encode()
        return await _send(send, 200, self._openapi_doc)

    async def _readyz(self, send: Send) -> int:
        run = runtime_module.current()
        reasons: list[str] = []
        status: dict[str, Any] = {}
        if run is None:
            reasons.append("the service is starting")
        else:
            status = run.status()
            if reason := run.not_ready_reason():
                reasons.append(reason)
        try:
            await asyncio.wait_for(self.redis.ping(), READYZ_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - any failure means "not ready", said plainly
            reasons.append(f"Redis does not answer ({type(error).__name__})")
        code = 503 if reasons else 200
        return await _reply(send, code, {"ready": not reasons, "reasons": reasons, **status})


def _one_error(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"error": body.decode(errors="replace")}
    if isinstance(parsed, list) and len(parsed) == 1:
        parsed = parsed[0]
    return parsed if isinstance(parsed, dict) and "error" in parsed else {"error": parsed}


async def _reply(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    return await _send(send, status, json.dumps(body).encode(), headers)


async def _send(
    send: Send, status: int, payload: bytes, headers: dict[str, str] | None = None,
    content_type: bytes = b"application/json",
) -> int:  # fmt: skip
    """One complete response: JSON unless told otherwise (the Swagger page is HTML)."""
    raw = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
    return status
