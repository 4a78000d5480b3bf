"""fraud_scorer: card-transaction fraud scores from the registry's champion model (ONNX Runtime).

POST /score and /score_batch (and /ask, /ask_stream: answers from the document index, ``gyre.rag``) need an
``X-API-Key`` and share its rate limit; /healthz says the process is alive, /readyz whether the
champion is loaded and Redis answers (and why not), /metrics is Prometheus. /console/ is the analyst console
(``gyre.console``). The work lives in ``gyre.serving``.
"""

from collections.abc import Generator
from typing import Any

import bentoml
from bentoml.exceptions import ServiceUnavailable

from gyre.config import get_settings
from gyre.console.app import CONSOLE_PREFIX
from gyre.console.app import create_app as console_app
from gyre.rag.service import Answers, relayed
from gyre.serving.features import FeaturesUnavailable
from gyre.serving.guard import RequestGuard
from gyre.serving.runtime import Runtime
from gyre.serving.schema import ScoreResult, Transaction

settings = get_settings()


@bentoml.service(
    name="fraud_scorer",
    workers=settings.serving_workers,
    traffic={"timeout": 10},
    http={"host": settings.bind_host, "port": settings.serving_port},
    # No per-request tracing spans or access-log lines: each costs more than scoring (see bench/serve.py).
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": ["/score", "/score_batch", "/readyz", "/healthz", "/livez", "/metrics"]},
)
class FraudScorer:
    """Scores transactions with ``champion``; ``challenger`` in shadow; follows alias moves without a restart."""

    # /ask runs in the answers service's own process (torch stays out of the scoring workers); see gyre.rag.service.
    answers = bentoml.depends(Answers)

    def __init__(self) -> None:
        self.runtime = Runtime.start(get_settings())

    # Over HTTP the request guard answers these routes itself once the body is valid (without blocking the event
    # loop, see gyre.serving.guard); the methods are the service's Python API and its OpenAPI contract.
    @bentoml.api(route="/score")
    def score(self, transaction: Transaction) -> ScoreResult:
        """Score one transaction."""
        return self._score([transaction])[0]

    @bentoml.api(route="/score_batch")
    def score_batch(self, transactions: list[Transaction]) -> list[ScoreResult]:
        """Score many transactions in one call (one feature lookup, one model run)."""
        return self._score(transactions)

    def _score(self, transactions: list[Transaction]) -> list[ScoreResult]:
        try:
            return self.runtime.score(transactions)
        except FeaturesUnavailable as why:
            raise ServiceUnavailable(str(why)) from why

    @bentoml.api(route="/ask")
    def ask(self, question: str, filters: dict[str, str | list[str]] | None = None) -> dict[str, Any]:
        """Answer from the knowledge base with [n] citations; extractive (and labelled) without an Anthropic key."""
        with relayed():
            return self.answers.ask(question=question, filters=filters)

    @bentoml.api(route="/ask_stream")
    def ask_stream(
        self, question: str, filters: dict[str, str | list[str]] | None = None
    ) -> Generator[str, None, None]:
        """The same answer as server-sent events: ``delta`` events with text, then ``done`` with the result."""
        with relayed():
            yield from self.answers.ask_stream(question=question, filters=filters)

    def __is_ready__(self) -> bool:
        return self.runtime.not_ready_reason() is None

    def __metrics__(self, content: str) -> str:
        return self.runtime.exposition(content)

    @bentoml.on_shutdown
    def stop(self) -> None:
        self.runtime.stop()


FraudScorer.add_asgi_middleware(RequestGuard, settings=settings)
FraudScorer.mount_asgi_app(console_app(settings), path=CONSOLE_PREFIX, name="console")
