"""Keep the document index in step with a folder, and build new index versions beside the live one.

An index version is one embedding model + chunk settings. While the configuration is unchanged, ``sync``
updates the live version in place: new and changed files (by content hash) are re-chunked and re-embedded,
each document replaced in its own transaction, and deleted files are removed with their chunks. When the
configuration changes, ``sync`` fills a new 'building' version instead; ``evaluate_version`` scores it on the
golden set and ``swap`` makes it live in one transaction only if it passed the gate. Every step can be
re-run: an unchanged folder writes nothing, and a version already live is not swapped again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gyre.config import Settings, get_settings
from gyre.db import engine, query
from gyre.rag import chunker, loader
from gyre.rag.evaluation import Evaluation, GateDecision, evaluate, gate, load_golden_set
from gyre.rag.schema import ensure_schema

CHUNKER_VERSION = 1  # bump when chunking code changes in a way that should rebuild the index
DOCUMENTS_PER_BATCH = 64


@dataclass
class SyncReport:
    version_id: int
    kind: str  # 'incremental' (the live version) or 'build' (a new version beside the live one)
    added: list[str]
    changed: list[str]
    deleted: list[str]
    unchanged: int
    chunks_written: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SwapResult:
    version_id: int
    swapped: bool
    reasons: list[str]
    previous_live: int | None


def config_hash(settings: Settings) -> str:
    """Identifies an index version: what changes the vectors or the chunk boundaries."""
    config = {
        "model": settings.rag_embedding_model,
        "chunk_words": settings.rag_chunk_words,
        "chunk_overlap": settings.rag_chunk_overlap,
        "chunker": CHUNKER_VERSION,
    }
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def target_version(settings: Settings) -> tuple[int, str]:
    """The version ``sync`` writes to for the current configuration, and whether it is live or being built."""
    ensure_schema()
    with engine().begin() as connection:
        row = connection.execute(
            query("rag/insert_version.sql"),
            {
                "config_hash": config_hash(settings),
                "embedding_model": settings.rag_embedding_model,
                "chunk_words": settings.rag_chunk_words,
                "chunk_overlap": settings.rag_chunk_overlap,
            },
        ).one()
        if row.status in ("retired", "rejected"):
            # an old configuration comes back (its rows were purged) or a rejected one is tried again (its rows
            # were kept, so the sync below is incremental): either way it is built beside the live one
            params = {"version_id": row.version_id, "status": "building"}
            connection.execute(query("rag/set_version_status.sql"), params)
    return row.version_id, ("incremental" if row.status == "live" else "build")


def sync(folder: Path | None = None, settings: Settings | None = None) -> SyncReport:
    """Make the target version hold exactly the folder's documents."""
    from gyre.rag.embedder import as_pgvector, get_embedder

    settings = settings or get_settings()
    folder = Path(folder or settings.docs_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"document folder {folder} does not exist (GYRE_RAG_DOCS_DIR)")
    started = time.perf_counter()
    version_id, kind = target_version(settings)
    with engine().connect() as connection:
        indexed = dict(connection.execute(query("rag/document_hashes.sql"), {"version_id": version_id}).all())
    files = {path.relative_to(folder).as_posix(): path for path in loader.scan(folder)}
    hashes = {source: loader.content_hash(path.read_bytes()) for source, path in files.items()}
    added = sorted(s for s in files if s not in indexed)
    changed = sorted(s for s in files if s in indexed and indexed[s] != hashes[s])
    deleted = sorted(s for s in indexed if s not in files)
    with engine().begin() as connection:
        for source in deleted:
            connection.execute(query("rag/delete_document.sql"), {"version_id": version_id, "source": source})
    embedder = get_embedder(settings.rag_embedding_model, settings.rag_embedding_batch) if added or changed else None
    written = 0
    todo = added + changed
    for start in range(0, len(todo), DOCUMENTS_PER_BATCH):
        documents = [loader.load(files[source], folder) for source in todo[start : start + DOCUMENTS_PER_BATCH]]
        pieces = [
            chunker.chunk(d.title, d.text, settings.rag_chunk_words, settings.rag_chunk_overlap) for d in documents
        ]
        vectors = embedder.embed([c.embedding_text() for chunks in pieces for c in chunks])
        offset = 0
        for document, chunks in zip(documents, pieces, strict=True):
            rows = [
                {
                    "version_id": version_id,
                    "source": document.source,
                    "ordinal": c.ordinal,
                    "heading": c.heading,
                    "content": c.content,
                    "category": document.category,
                    "team": document.team,
                    "tags": list(document.tags),
                    "embedding": as_pgvector(vectors[offset + i]),
                }
                for i, c in enumerate(chunks)
            ]
            offset += len(chunks)
            with engine().begin() as connection:  # one document at a time: never half a document
                connection.execute(
                    query("rag/delete_document.sql"), {"version_id": version_id, "source": document.source}
                )
                connection.execute(
                    query("rag/insert_document.sql"),
                    {
                        "version_id": version_id,
                        "source": document.source,
                        "content_hash": document.content_hash,
                        "title": document.title,
                        "doc_type": document.doc_type,
                        "category": document.category,
                        "team": document.team,
                        "tags": list(document.tags),
                        "chunks": len(chunks),
                    },
                )
                if rows:
                    connection.execute(query("rag/insert_chunk.sql"), rows)
            written += len(rows)
    return SyncReport(
        version_id=version_id,
        kind=kind,
        added=added,
        changed=changed,
        deleted=deleted,
        unchanged=len(files) - len(added) - len(changed),
        chunks_written=written,
        seconds=round(time.perf_counter() - started, 3),
    )


def version(version_id: int) -> dict[str, Any] | None:
    ensure_schema()
    with engine().connect() as connection:
        row = connection.execute(query("rag/get_version.sql"), {"version_id": version_id}).mappings().first()
    return dict(row) if row else None


def live_version() -> dict[str, Any] | None:
    ensure_schema()
    with engine().connect() as connection:
        row = connection.execute(query("rag/live_version.sql")).mappings().first()
    return dict(row) if row else None


def evaluate_version(
    version_id: int, settings: Settings | None = None, golden_path: Path | None = None
) -> tuple[Evaluation, Evaluation | None, GateDecision]:
    """Score a version and the live one on the same golden set, record the candidate's result, judge it."""
    settings = settings or get_settings()
    golden = load_golden_set(Path(golden_path or settings.golden_set))
    candidate = evaluate(version_id, golden, settings)
    live = live_version()
    live_eval = None
    if live is not None and live["version_id"] != version_id:
        live_eval = evaluate(live["version_id"], golden, settings)
    decision = gate(candidate, live_eval, settings)
    with engine().begin() as connection:
        connection.execute(
            query("rag/record_evaluation.sql"),
            {
                "version_id": version_id,
                "recall_at_5": candidate.recall_at_5,
                "mrr": candidate.mrr,
                "questions": candidate.questions,
                "gate_reasons": json.dumps(decision.reasons),
            },
        )
    return candidate, live_eval, decision


def swap(version_id: int, decision: GateDecision) -> SwapResult:
    """Make a 'building' version live, atomically, if it passed; otherwise mark it rejected. Idempotent."""
    previous = live_version()
    previous_id = previous["version_id"] if previous else None
    current = version(version_id)
    if current is None:
        raise ValueError(f"index version {version_id} does not exist")
    if current["status"] == "live":
        return SwapResult(version_id, False, ["already live"], previous_id)
    if not decision.passed:
        with engine().begin() as connection:
            connection.execute(query("rag/set_version_status.sql"), {"version_id": version_id, "status": "rejected"})
        return SwapResult(version_id, False, decision.reasons, previous_id)
    with engine().begin() as connection:  # readers see the old live version or the new one, never neither
        connection.execute(query("rag/retire_live.sql"))
        connection.execute(query("rag/make_live.sql"), {"version_id": version_id})
    with engine().begin() as connection:
        connection.execute(query("rag/purge_retired.sql"))
    return SwapResult(version_id, True, [], previous_id)


def refresh(folder: Path | None = None, settings: Settings | None = None, golden_path: Path | None = None) -> dict:
    """Sync, evaluate and, for a new version, swap: what the ``index_documents`` DAG does, in one call."""
    settings = settings or get_settings()
    report = sync(folder, settings)
    candidate, live, decision = evaluate_version(report.version_id, settings, golden_path)
    result = {"sync": report.as_dict(), "evaluation": candidate.as_dict(), "gate": decision.reasons}
    if report.kind == "build":
        result["swap"] = asdict(swap(report.version_id, decision))
    return result
