"""The /ask contract for the HTTP service: the request body, and answers as JSON or server-sent events.

The service's request guard validates bodies with ``AskRequest`` (422 naming the field) before anything runs;
here a bad filter or question becomes ``InvalidArgument`` (400) and a language model that stays unavailable
after retries becomes ``ServiceUnavailable`` (503). Importing this module loads no model or SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gyre.rag.retrieval import CONTROL_CHARACTERS, MAX_FILTER_CHARS, MAX_QUESTION_CHARS, has_control_characters

FilterValue = str | list[str]


class AskRequest(BaseModel):
    """A question to the knowledge base, optionally narrowed by filters (category, team, tag, source)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    filters: dict[str, FilterValue] | None = Field(None, max_length=8)

    @field_validator("question")
    @classmethod
    def _no_control_characters(cls, question: str) -> str:
        """Refused here (422) rather than by PostgreSQL, which cannot store NUL, half-way through an answer."""
        if has_control_characters(question):
            raise ValueError(CONTROL_CHARACTERS)
        return question


def _errors() -> tuple[type[Exception], type[Exception]]:
    from bentoml.exceptions import InvalidArgument, ServiceUnavailable

    return InvalidArgument, ServiceUnavailable


def ask(question: str, filters: dict[str, Any] | None) -> dict[str, Any]:
    """The answer as JSON: answer, mode (generated | extractive), citations, sources, trace id, usage, cost."""
    from gyre.rag.answers import AnswerUnavailable, answer

    invalid, unavailable = _errors()
    try:
        return answer(question, filters).as_dict()
    except ValueError as error:  # FilterError, QuestionError
        raise invalid(str(error)) from error
    except AnswerUnavailable as error:
        raise unavailable(str(error)) from error


def ask_events(question: str, filters: dict[str, Any] | None) -> Iterator[str]:
    """The answer as server-sent events: ``delta`` events with text, then ``done`` with the full result.

    Retrieval and the first API call happen before the first event, so their errors are still a 400 / 503."""
    from gyre.rag.answers import AnswerUnavailable, answer

    invalid, unavailable = _errors()
    try:
        stream = answer(question, filters, stream=True)
    except ValueError as error:
        raise invalid(str(error)) from error
    except AnswerUnavailable as error:
        raise unavailable(str(error)) from error

    def events() -> Iterator[str]:
        for event in stream:
            name = event["event"]
            payload = {k: v for k, v in event.items() if k != "event"}
            yield f"event: {name}\ndata: {json.dumps(payload, default=str)}\n\n"

    return events()


__all__ = ["AskRequest", "MAX_FILTER_CHARS", "ask", "ask_events"]
