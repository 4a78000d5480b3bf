"""The language model that writes answers and judges them: Claude through the Messages API, or a self-hosted
model behind an OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp server), chosen by
``GYRE_LLM_PROVIDER``.

Both speak through their vendor's client library, with its retries (exponential backoff) and timeout; both
return text and the same ``costs.Usage``, so spend, budget and traces do not depend on the provider. A call
that still fails after the retries raises ``LlmUnavailable`` naming the error, never the key or the prompt.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gyre.config import Settings
from gyre.rag.costs import Usage, cost

NO_KEY = "no Anthropic API key is configured"
NO_ENDPOINT = "no OpenAI-compatible endpoint is configured (GYRE_LLM_BASE_URL and GYRE_LLM_MODEL)"


class LlmUnavailable(RuntimeError):
    """The model could not be reached or kept failing after retries; the message names the error and status."""


@dataclass(frozen=True)
class Reply:
    text: str
    usage: Usage


class Streaming:
    """A reply's text as it arrives; ``usage`` is set once the iteration has ended."""

    def __init__(self, chunks: Iterator[str | Usage]) -> None:
        self._chunks = chunks
        self.usage: Usage | None = None

    def __iter__(self) -> Iterator[str]:
        for chunk in self._chunks:
            if isinstance(chunk, Usage):
                self.usage = chunk
            else:
                yield chunk


def missing(settings: Settings) -> str | None:
    """Why no model can be called (the note an extractive answer carries), or None when one is configured."""
    if settings.llm_provider == "anthropic":
        return None if settings.anthropic_api_key is not None else NO_KEY
    return None if settings.llm_base_url and settings.llm_model else NO_ENDPOINT


def model_name(settings: Settings) -> str:
    return settings.anthropic_model if settings.llm_provider == "anthropic" else str(settings.llm_model)


def price(usage: Usage, settings: Settings) -> dict[str, float]:
    """Langfuse ``cost_details`` in USD: Claude from the price table, a self-hosted model from its settings."""
    if settings.llm_provider == "anthropic":
        return cost(settings.anthropic_model, usage)
    return cost(model_name(settings), usage, (settings.llm_input_usd_per_mtok, settings.llm_output_usd_per_mtok))


def _unavailable(error: Exception) -> LlmUnavailable:
    status = getattr(error, "status_code", None)
    return LlmUnavailable(f"{type(error).__name__}{f' {status}' if status else ''}")


@functools.cache
def _anthropic(api_key: str, base_url: str | None, max_retries: int, timeout: float) -> Any:
    import anthropic

    return anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout)


@functools.cache
def _openai(api_key: str, base_url: str, max_retries: int, timeout: float) -> Any:
    import openai

    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout)


def _client(settings: Settings) -> Any:
    retries, timeout = settings.anthropic_max_retries, settings.anthropic_timeout_s
    if settings.llm_provider == "anthropic":
        key = settings.anthropic_api_key.get_secret_value()
        return _anthropic(key, settings.anthropic_base_url, retries, timeout)
    # a local server started without --api-key ignores the header, but the client insists on sending one
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
    return _openai(key, str(settings.llm_base_url), retries, timeout)


def _anthropic_request(system: str, user: str, settings: Settings, max_tokens: int) -> dict[str, Any]:
    """The Messages API body: the system prompt marked for prompt caching (it is the same on every call)."""
    return {
        "model": settings.anthropic_model,
        "max_tokens": max_tokens,
        "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": user}],
    }


def _openai_request(system: str, user: str, settings: Settings, max_tokens: int) -> dict[str, Any]:
    return {
        "model": settings.llm_model,
        "max_tokens": max_tokens,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }


def _openai_usage(usage: Any) -> Usage:
    """Chat-completions usage counts cached prompt tokens inside ``prompt_tokens``; Usage keeps them apart."""
    if usage is None:
        return Usage()
    details = getattr(usage, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
    return Usage(
        input_tokens=(usage.prompt_tokens or 0) - cached,
        output_tokens=usage.completion_tokens or 0,
        cache_read_tokens=cached,
    )


def complete(system: str, user: str, settings: Settings, max_tokens: int | None = None) -> Reply:
    """One reply, whole."""
    max_tokens = max_tokens or settings.anthropic_max_tokens
    client = _client(settings)
    if settings.llm_provider == "anthropic":
        import anthropic

        try:
            message = client.messages.create(**_anthropic_request(system, user, settings, max_tokens))
        except anthropic.APIError as error:
            raise _unavailable(error) from error
        text = "".join(block.text for block in message.content if block.type == "text")
        return Reply(text, Usage.from_api(message.usage))
    import openai

    try:
        completion = client.chat.completions.create(**_openai_request(system, user, settings, max_tokens))
    except openai.APIError as error:
        raise _unavailable(error) from error
    return Reply(completion.choices[0].message.content or "", _openai_usage(completion.usage))


def stream(system: str, user: str, settings: Settings, max_tokens: int | None = None) -> Streaming:
    """A reply as it is generated. The request is sent here, so a model that is down fails before any text."""
    max_tokens = max_tokens or settings.anthropic_max_tokens
    client = _client(settings)
    if settings.llm_provider == "anthropic":
        return _anthropic_stream(client, _anthropic_request(system, user, settings, max_tokens))
    return _openai_stream(client, _openai_request(system, user, settings, max_tokens))


def _anthropic_stream(client: Any, request: dict[str, Any]) -> Streaming:
    import anthropic

    manager = client.messages.stream(**request)
    try:
        live = manager.__enter__()  # sends the request: failures (after retries) surface here
    except anthropic.APIError as error:
        raise _unavailable(error) from error

    def chunks() -> Iterator[str | Usage]:
        try:
            yield from live.text_stream
            yield Usage.from_api(live.get_final_message().usage)
        except anthropic.APIError as error:
            raise _unavailable(error) from error
        finally:
            manager.__exit__(None, None, None)

    return Streaming(chunks())


def _openai_stream(client: Any, request: dict[str, Any]) -> Streaming:
    import openai

    try:
        response = client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    except openai.APIError as error:
        raise _unavailable(error) from error

    def chunks() -> Iterator[str | Usage]:
        usage = None
        try:
            for chunk in response:
                if chunk.usage is not None:  # the last chunk, with no choices
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content
        except openai.APIError as error:
            raise _unavailable(error) from error
        finally:
            response.close()
        yield _openai_usage(usage)

    return Streaming(chunks())
