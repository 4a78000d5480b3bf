"""Shared pieces of the document-stage tests: a clean set of rag_* tables and a copy of the corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from gyre.db import engine
from gyre.rag.schema import ensure_schema

CORPUS = Path(__file__).resolve().parents[2] / "docs_corpus"
TABLES = (
    "rag_chunks, rag_documents, rag_staged_chunks, rag_staged_documents, rag_skipped_documents, "
    "rag_index_versions, rag_usage, rag_answer_scores, rag_answer_quality, rag_answers"
)


def reset_tables() -> None:
    """Each module starts from an empty index: the tests share one database and 'live' is global."""
    with engine().begin() as connection:
        connection.execute(sa.text(f"drop table if exists {TABLES} cascade"))
    ensure_schema.cache_clear()


def copy_corpus(target: Path, only: list[str] | None = None) -> Path:
    if only is None:
        shutil.copytree(CORPUS, target, ignore=shutil.ignore_patterns("golden_set.json"))
        return target
    for source in only:
        (target / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / source, target / source)
    return target


def count(sql: str, **params: object) -> int:
    with engine().connect() as connection:
        return connection.execute(sa.text(sql), params).scalar_one()
