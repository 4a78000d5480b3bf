"""The FastAPI + onnxruntime baseline bench/serve.py compares fraud_scorer with: the same work, nothing else.

API key (hmac), the same rate limiter, the same one-round-trip Feast read of both entities, the same ONNX
session, on one uvicorn worker. ``python bench/serve_baseline.py PORT`` serves it; ``... PORT noop`` serves a
do-nothing endpoint on the same stack instead (the framework's ceiling).
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Header, HTTPException

app = FastAPI()

if sys.argv[2:] == ["noop"]:

    @app.post("/score")
    async def noop() -> dict:
        return {"score": 0.0}

else:
    import redis.asyncio as aioredis

    from gyre.config import get_settings
    from gyre.registry.models import onnx_for
    from gyre.services.endpoints import redis_url
    from gyre.serving.features import OnlineFeatures
    from gyre.serving.guard import accepted_keys, key_matches
    from gyre.serving.model import load_version
    from gyre.serving.ratelimit import RateLimiter
    from gyre.serving.schema import ScoreRequest, Transaction

    settings = get_settings()
    model = load_version(settings.model_name, "champion", onnx_for)
    features = OnlineFeatures(settings)
    keys = accepted_keys(settings)
    redis = aioredis.from_url(redis_url(settings))
    limiter = RateLimiter(settings.serving_rate_limit, settings.serving_rate_window_s, lambda: redis)

    def _admit(key: str | None) -> None:
        if not key or not key_matches(key, keys):
            raise HTTPException(401, "invalid API key")
        if limiter.admit(key) is not None:
            raise HTTPException(429, "rate limit exceeded")

    async def _score(transactions: list[Transaction]) -> list[dict]:
        rows = await features.read(transactions)
        return [
            {"score": float(v), "decision": bool(v >= model.threshold), "model_version": model.version}
            for v in model.score(rows.rows)
        ]

    @app.post("/score")
    async def score(body: ScoreRequest, x_api_key: str | None = Header(None)) -> dict:
        _admit(x_api_key)
        return (await _score([body.transaction]))[0]

    @app.post("/score_batch")
    async def score_batch(body: dict, x_api_key: str | None = Header(None)) -> list[dict]:
        _admit(x_api_key)
        return await _score([Transaction(**t) for t in body["transactions"]])


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
