"""answers: the BentoML service behind /ask and /ask_stream, in its own worker process.

fraud_scorer depends on it (``bentoml.depends``): ``bentoml serve`` starts it beside the scoring workers on a
private Unix socket, and the scorer relays /ask to it after its request guard. torch and the embedding model live
only here, so a scoring worker never loads them and never shares its GIL with an answer being embedded. The model
loads as the worker starts, before it serves; until then the request guard answers /ask with a 503 saying so (at
once, instead of a request held past the timeout while torch imports), having asked ``unavailable_reason``.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException

from gyre.config import get_settings
from gyre.rag import api

LOADING = "the answer service is loading its embedding model; retry in a few seconds"


@bentoml.service(name="answers", workers=1, traffic={"timeout": 10})
class Answers:
    """Answers from the live document index, with the embedding model loaded before the first request."""

    def __init__(self) -> None:
        from gyre.rag.embedder import get_embedder

        # an answer embeds one question, one batch: one thread does it in milliseconds, other cores score
        settings = get_settings()
        get_embedder(settings).embed(["warm-up"])

    @bentoml.api
    def ask(self, question: str, filters: dict[str, str | list[str]] | None = None) -> dict[str, Any]:
        return api.ask(question, filters)

    @bentoml.api
    def ask_stream(
        self, question: str, filters: dict[str, str | list[str]] | None = None
    ) -> Generator[str, None, None]:
        yield from api.ask_events(question, filters)


async def unavailable_reason(timeout_s: float) -> str | None:
    """Why the answers service cannot take a question now: its worker does not answer its readiness probe yet.

    None once it does, and when no worker of its own was started (in-process use, where the scorer builds an
    ``Answers`` itself on the first question)."""
    import httpx
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.utils.uri import uri_to_path

    address = BentoMLContainer.remote_runner_mapping.get().get(Answers.name)
    if address is None:
        return None
    transport = httpx.AsyncHTTPTransport(uds=uri_to_path(address))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://answers", timeout=timeout_s) as client:
            ready = (await client.get("/readyz")).status_code == 200
    except httpx.HTTPError:
        ready = False
    return None if ready else LOADING


@contextmanager
def relayed() -> Iterator[None]:
    """Around a call to the answers service: its error re-raised with the message it gave, not its JSON body."""
    try:
        yield
    except BentoMLException as error:
        raise type(error)(_message(str(error)), error_code=error.error_code) from None


def _message(body: str) -> str:
    """The error's text from BentoML's body: ``{"error": ...}``, or ``[{"error": ...}]`` for a 4xx."""
    try:
        parsed = json.loads(body)
        return str((parsed[0] if isinstance(parsed, list) else parsed)["error"])
    except (ValueError, KeyError, TypeError, IndexError):
        return body
