"""Langfuse traces for each question: a root span, a retrieval span and a generation with usage and cost.

Tracing is off unless both Langfuse keys are set; then every call here is a no-op. Personal data (card
numbers, emails, phone numbers, IBANs) is masked by the SDK's ``mask`` hook before anything leaves the
process. Observations are started and ended explicitly rather than as context managers, so a streamed
answer can end its spans from whatever thread consumes the stream.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from gyre.config import Settings, get_settings

_PATTERNS = (
    ("[IBAN]", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    ("[CARD]", re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")),
    ("[EMAIL]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("[PHONE]", re.compile(r"(?<![\w.])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,4}(?![\w.])")),
)
# a phone-shaped match shorter than this many digits is a number, a date or an amount, not a phone
_MIN_PHONE_DIGITS = 9


def _phone(match: re.Match[str]) -> str:
    return "[PHONE]" if sum(ch.isdigit() for ch in match.group()) >= _MIN_PHONE_DIGITS else match.group()


def mask_text(text: str) -> str:
    for label, pattern in _PATTERNS:
        text = pattern.sub(_phone if label == "[PHONE]" else label, text)
    return text


def mask_pii(*, data: Any, **_: Any) -> Any:
    """Langfuse ``mask`` hook: masks strings at any depth of lists and dicts."""
    if isinstance(data, str):
        return mask_text(data)
    if isinstance(data, dict):
        return {key: mask_pii(data=value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [mask_pii(data=value) for value in data]
    return data


class _Off:
    """Stands in for an observation when tracing is off."""

    trace_id: str | None = None
    id: str | None = None

    def start_observation(self, **_: Any) -> _Off:
        return self

    def update(self, **_: Any) -> _Off:
        return self

    def end(self, **_: Any) -> _Off:
        return self


OFF = _Off()


@functools.cache
def _client(public_key: str, secret_key: str, base_url: str) -> Any:
    from langfuse import Langfuse

    return Langfuse(public_key=public_key, secret_key=secret_key, base_url=base_url, mask=mask_pii)


def client(settings: Settings | None = None) -> Any | None:
    """The Langfuse client, or None when tracing is not configured."""
    settings = settings or get_settings()
    if not settings.langfuse_public_key or settings.langfuse_secret_key is None:
        return None
    return _client(
        settings.langfuse_public_key, settings.langfuse_secret_key.get_secret_value(), settings.langfuse_base_url
    )


def start_trace(name: str, input: Any, metadata: dict[str, Any] | None = None, settings: Settings | None = None) -> Any:
    """The root observation of a question's trace (or the no-op stand-in)."""
    langfuse = client(settings)
    if langfuse is None:
        return OFF
    return langfuse.start_observation(name=name, as_type="span", input=input, metadata=metadata)


def flush(settings: Settings | None = None) -> None:
    """Send buffered spans now (a short-lived process calls this before it exits)."""
    langfuse = client(settings)
    if langfuse is not None:
        langfuse.flush()
