"""The FastAPI + onnxruntime baseline bench/serve.py compares BentoML with: the same work, nothing else.

API key (hmac), the Redis rate-limit counter, the same feature lookup and the same ONNX session as
fraud_scorer, on one uvicorn worker. Run by bench/serve.py: ``python bench/serve_baseline.py PORT``.
"""

from __future__ import annotations

import hashlib
import sys
import time

import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Header, HTTPException

from gyre.config import get_settings
from gyre.registry.models import onnx_for
from gyre.services.endpoints import redis_url
from gyre.serving.features import OnlineFeatures
from gyre.serving.guard import accepted_keys, key_matches
from gyre.serving.model import load_version
from gyre.serving.schema import ScoreRequest, Transaction

settings = get_settings()
model = load_version(settings.model_name, "champion", onnx_for)
features = OnlineFeatures(settings)
keys = accepted_keys(settings)
app = FastAPI()
limiter = aioredis.from_url(redis_url(settings))


async def _admit(key: str | None) -> None:
    if not key or not key_matches(key, keys):
        raise HTTPException(401, "invalid API key")
    name = f"bench:rate:{hashlib.sha256(key.encode()).hexdigest()[:16]}:{int(time.time() // 60)}"
    async with limiter.pipeline(transaction=False) as pipe:
        pipe.incr(name)
        pipe.expire(name, 61)
        await pipe.execute()


@app.post("/score")
async def score(body: ScoreRequest, x_api_key: str | None = Header(None)) -> dict:
    await _admit(x_api_key)
    rows = features([body.transaction])
    value = float(model.score(rows.rows)[0])
    return {"score": value, "decision": value >= model.threshold, "model_version": model.version}


@app.post("/score_batch")
async def score_batch(body: dict, x_api_key: str | None = Header(None)) -> list[dict]:
    await _admit(x_api_key)
    transactions = [Transaction(**t) for t in body["transactions"]]
    rows = features(transactions)
    return [{"score": float(v), "model_version": model.version} for v in model.score(rows.rows)]


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
