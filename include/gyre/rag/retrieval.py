"""Hybrid retrieval: vector search (HNSW) and full-text search, fused by reciprocal rank, with filters.

Filters are a closed set of keys, each validated and passed as a bound parameter; an unknown key, or a value
of the wrong shape, is refused with a ``FilterError`` that names the allowed keys (an HTTP 400 upstream).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gyre.config import Settings, get_settings
from gyre.db import engine, query
from gyre.rag.schema import ensure_schema

if TYPE_CHECKING:
    import sqlalchemy as sa

MAX_QUESTION_CHARS = 2000
MAX_FILTER_CHARS = 200
# Control characters except tab, newline and carriage return: PostgreSQL text cannot hold NUL, and none of
# them belongs in a question or a filter value.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS = "must not contain control characters (other than tab and newline)"
# key -> (SQL parameter, whether a list of values is allowed)
ALLOWED_FILTERS: dict[str, tuple[str, bool]] = {
    "category": ("category", True),
    "team": ("team", False),
    "tag": ("tag", False),
    "source": ("source", False),
}


class FilterError(ValueError):
    """A filter the index does not support; the message says which keys are allowed."""


class QuestionError(ValueError):
    """An empty or oversized question, or one holding control characters."""


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    score: float
    vector_rank: int | None
    text_rank: int | None
    version_id: int
    source: str
    ordinal: int
    heading: str
    content: str
    title: str
    category: str | None
    team: str | None
    content_hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def filter_params(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """SQL parameters for ``filters``; every allowed key is present (``None`` means no filter)."""
    params: dict[str, Any] = {param: None for param, _ in ALLOWED_FILTERS.values()}
    if filters is None:
        return params
    if not isinstance(filters, Mapping):
        raise FilterError("filters must be an object of key: value")
    allowed = ", ".join(sorted(ALLOWED_FILTERS))
    for key, value in filters.items():
        if key not in ALLOWED_FILTERS:
            raise FilterError(f"unknown filter {str(key)[:40]!r}; allowed filters: {allowed}")
        param, many = ALLOWED_FILTERS[key]
        values = value if many and isinstance(value, list) else [value]
        if isinstance(value, list) and not many:
            raise FilterError(f"filter {key!r} takes one string")
        if not values or not all(isinstance(v, str) and 0 < len(v) <= MAX_FILTER_CHARS for v in values):
            raise FilterError(f"filter {key!r} takes non-empty strings of at most {MAX_FILTER_CHARS} characters")
        if any(has_control_characters(v) for v in values):
            raise FilterError(f"filter {key!r} {CONTROL_CHARACTERS}")
        params[param] = values if many else values[0]
    return params


def check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("question must be a non-empty string")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"question is longer than {MAX_QUESTION_CHARS} characters")
    if has_control_characters(question):
        raise QuestionError(f"question {CONTROL_CHARACTERS}")
    return question.strip()


def embed_query(text: str, settings: Settings) -> str:
    from gyre.rag.embedder import as_pgvector, get_embedder

    embedder = get_embedder(settings)
    return as_pgvector(embedder.embed([text])[0])


def question_terms(connection: sa.Connection, question: str) -> dict[str, Any]:
    """The question's full-text terms (``any_word``, ``two_words``, ``one_word``), hybrid_search.sql's parameters,
    chosen by how common each word is; passed as values so that the search is planned with them."""
    return dict(connection.execute(query("rag/question_terms.sql"), {"query": question}).mappings().one())


def search(
    question: str,
    filters: Mapping[str, Any] | None = None,
    *,
    k: int | None = None,
    version_id: int | None = None,
    settings: Settings | None = None,
    embedding: str | None = None,
) -> list[Hit]:
    """The ``k`` best chunks of a version (default: the live one), best first, with fused scores."""
    settings = settings or get_settings()
    params = filter_params(filters)
    question = check_question(question)
    ensure_schema()
    candidates = max(settings.rag_candidates, k or settings.rag_top_k)
    params |= {
        "query": question,
        "embedding": embedding or embed_query(question, settings),
        "candidates": candidates,
        "text_scan": max(settings.rag_text_candidates, candidates),
        "rrf_k": settings.rag_rrf_k,
        "vector_weight": settings.rag_vector_weight,
        "text_weight": settings.rag_text_weight,
        "k": k or settings.rag_top_k,
    }
    with engine().begin() as connection:
        if version_id is None:
            version_id = connection.execute(query("rag/live_version.sql")).scalar()
            if version_id is None:
                return []
        # planned with this version's value (a small live version among a large one being built is searched
        # by other paths than the reverse), not a generic plan cached by the driver's prepared statement
        connection.execute(query("rag/custom_plans.sql"))
        connection.execute(query("rag/set_ef_search.sql"), {"ef_search": str(settings.rag_hnsw_ef_search)})
        params |= question_terms(connection, question) | {"version_id": version_id}
        rows = connection.execute(query("rag/hybrid_search.sql"), params).mappings().all()
    return [Hit(**{**row, "score": float(row["score"])}) for row in rows]
