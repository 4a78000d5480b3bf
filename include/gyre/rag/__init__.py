"""Documents to answers: a pgvector index kept in step with a folder, hybrid retrieval, grounded answers.

``gyre.rag.answer(question, filters, stream=...)`` is what an HTTP endpoint calls; heavy libraries (torch,
sentence-transformers, anthropic, langfuse) load on first use, not on import.
"""

from __future__ import annotations

from typing import Any


def answer(question: str, filters: dict[str, Any] | None = None, *, stream: bool = False, **kwargs: Any) -> Any:
    """See ``gyre.rag.answers.answer``."""
    from gyre.rag.answers import answer as run

    return run(question, filters, stream=stream, **kwargs)
