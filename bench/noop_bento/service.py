"""A do-nothing BentoML API with fraud_scorer's settings: the framework's ceiling for bench/serve.py."""

from typing import Any

import bentoml


@bentoml.service(
    name="noop",
    workers=1,
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": ["/score"]},
)
class Noop:
    @bentoml.api(route="/score")
    def score(self, transaction: dict[str, Any]) -> dict[str, float]:
        return {"score": 0.0}
