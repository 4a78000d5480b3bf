"""Keep the document index in step with a folder, and build new index versions beside the live one.

An index version is one embedding model + chunk settings. While the configuration is unchanged, ``sync``
updates the live version in place: new and changed files (by content hash) are re-chunked and re-embedded,
and deleted files are removed with their chunks. When the configuration changes, ``sync`` fills a new
'building' version instead; ``evaluate_version`` scores it on the golden set and ``swap`` makes it live in one
transaction only if it passed the gate. Every step can be re-run: an unchanged folder writes nothing, and a
version already live is not swapped again.

A sync is atomic and resumable. Chunks are embedded and written to staging tables in bounded batches, each
its own transaction, so memory stays flat whatever the folder holds and work survives a failure; then one
transaction replaces the changed documents, adds the new ones and deletes the removed ones. A sync that
failed leaves the index as it was, and the next one skips what it finds staged with the same content hash.
A file the index cannot hold (too large, empty, binary, not UTF-8, a duplicate of another) is skipped with
its reason, logged and recorded in ``rag_skipped_documents``; the other files are indexed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gyre.config import Settings, get_settings
from gyre.db import engine, query
from gyre.rag import chunker, loader
from gyre.rag.embedder import embedding_dtype
from gyre.rag.evaluation import Evaluation, GateDecision, evaluate, gate, load_golden_set
from gyre.rag.schema import ensure_schema

if TYPE_CHECKING:
    import numpy as np
    import sqlalchemy as sa

log = logging.getLogger(__name__)

CHUNKER_VERSION = 2  # bump when chunking code changes in a way that should rebuild the index (2: plain text)
CHUNKS_PER_WRITE = 256  # chunks embedded and written per transaction: bounds memory, and the work a failure loses


class TextEmbedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str  # one of loader's reasons: too_large, empty, binary, invalid_utf8, unreadable, duplicate
    detail: str
    content_hash: str | None = None
    duplicate_of: str | None = None


@dataclass
class SyncReport:
    version_id: int
    kind: str  # 'incremental' (the live version) or 'build' (a new version beside the live one)
    added: list[str]
    changed: list[str]
    deleted: list[str]  # left the index: gone from the folder, now skipped, or now a duplicate
    unchanged: int
    chunks_written: int  # by this sync; chunks of resumed documents were written by the one that stopped
    seconds: float
    resumed: list[str] = field(default_factory=list)  # staged by an earlier sync that stopped, not re-embedded
    skipped: list[dict[str, Any]] = field(default_factory=list)

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
    if (dtype := embedding_dtype(settings)) != "float32":  # a float32 index keeps the hash it was built under
        config["dtype"] = dtype
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


def plan(
    folder: Path, max_bytes: int, indexed: dict[str, str]
) -> tuple[dict[str, str], list[Skipped], dict[str, Path]]:
    """The folder's indexable files by content hash, and the files skipped with their reasons.

    Every new or changed file is read and parsed here, one at a time (only its hash is kept), so that a bad
    file is found before anything is written; a file indexed with the same bytes is known to be good.
    """
    files = {path.relative_to(folder).as_posix(): path for path in loader.scan(folder)}
    hashes: dict[str, str] = {}
    skipped: list[Skipped] = []
    for source, path in files.items():
        digest = None
        try:
            raw = loader.read(path, max_bytes)
            digest = loader.content_hash(raw)
            if indexed.get(source) != digest:
                loader.load(path, folder, raw)
        except loader.Unusable as error:
            skipped.append(Skipped(source, error.reason, error.detail, digest))
            continue
        hashes[source] = digest
    return hashes, skipped, files


def dedupe(hashes: dict[str, str], indexed: dict[str, str]) -> tuple[dict[str, str], list[Skipped]]:
    """One source per content hash: the one already indexed with it, else the first name in order."""
    first: dict[str, str] = {}
    for source in sorted(hashes, key=lambda s: (indexed.get(s) != hashes[s], s)):
        first.setdefault(hashes[source], source)
    kept = {source: digest for source, digest in hashes.items() if first[digest] == source}
    duplicates = [
        Skipped(source, loader.DUPLICATE, f"the same bytes as {first[digest]}", digest, first[digest])
        for source, digest in sorted(hashes.items())
        if first[digest] != source
    ]
    return kept, duplicates


def sync(
    folder: Path | None = None,
    settings: Settings | None = None,
    *,
    embedder: TextEmbedder | None = None,
    chunks_per_write: int = CHUNKS_PER_WRITE,
) -> SyncReport:
    """Make the target version hold exactly the folder's usable documents, all at once; see the module notes.

    ``embedder`` defaults to the configured model, loaded once per process.
    """
    settings = settings or get_settings()
    folder = Path(folder or settings.docs_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"document folder {folder} does not exist (GYRE_RAG_DOCS_DIR)")
    started = time.perf_counter()
    version_id, kind = target_version(settings)
    with _sync_lock(version_id):
        return _sync(version_id, kind, folder, settings, embedder, chunks_per_write, started)


@contextlib.contextmanager
def _sync_lock(version_id: int) -> Iterator[None]:
    """Refuse a second sync of the same version while one runs; a lost session releases the lock."""
    params = {"version_id": version_id}
    with engine().connect() as connection:
        acquired = connection.execute(query("rag/try_sync_lock.sql"), params).scalar_one()
        connection.commit()
        if not acquired:
            raise RuntimeError(f"another sync of index version {version_id} is running; try again when it ends")
        try:
            yield
        finally:
            connection.execute(query("rag/sync_unlock.sql"), params)
            connection.commit()


def _sync(
    version_id: int,
    kind: str,
    folder: Path,
    settings: Settings,
    embedder: TextEmbedder | None,
    chunks_per_write: int,
    started: float,
) -> SyncReport:
    with engine().connect() as connection:
        params = {"version_id": version_id}
        indexed = dict(connection.execute(query("rag/document_hashes.sql"), params).all())
        staged = dict(connection.execute(query("rag/staged_hashes.sql"), params).all())
    found, skipped, files = plan(folder, settings.rag_max_file_bytes, indexed)
    hashes, duplicates = dedupe(found, indexed)
    skipped = sorted(skipped + duplicates, key=lambda s: s.source)
    for item in skipped:
        log.warning("skipped %s (%s): %s", item.source, item.reason, item.detail)
    added = sorted(s for s in hashes if s not in indexed)
    changed = sorted(s for s in hashes if s in indexed and indexed[s] != hashes[s])
    deleted = sorted(s for s in indexed if s not in hashes)
    todo = added + changed
    resumed = sorted(s for s in todo if staged.get(s) == hashes[s])
    with engine().begin() as connection:  # staged rows of an earlier sync that no longer match the folder
        connection.execute(query("rag/discard_staged_documents.sql"), {"version_id": version_id, "keep": resumed})
        connection.execute(query("rag/discard_staged_chunks.sql"), {"version_id": version_id})
    if resumed:
        log.info("resuming: %d of %d documents were staged by a sync that stopped", len(resumed), len(todo))
    remaining = [s for s in todo if s not in set(resumed)]
    written, late = 0, []
    if remaining:
        if embedder is None:
            from gyre.rag.embedder import get_embedder

            embedder = get_embedder(settings)
        written, late = _stage(version_id, folder, files, remaining, settings, embedder, chunks_per_write)
    if late:  # a file that changed into an unusable one between planning and reading
        skipped = sorted(skipped + late, key=lambda s: s.source)
        gone = {s.source for s in late}
        added, changed = [s for s in added if s not in gone], [s for s in changed if s not in gone]
        deleted = sorted(set(deleted) | (gone & set(indexed)))
    _publish(version_id, sorted(set(deleted) | set(changed)), skipped)
    if added or changed or deleted:
        vacuum_analyze()
    log.info(
        "index version %d: %d added, %d changed, %d deleted, %d skipped, %d chunks written",
        version_id,
        len(added),
        len(changed),
        len(deleted),
        len(skipped),
        written,
    )
    return SyncReport(
        version_id=version_id,
        kind=kind,
        added=added,
        changed=changed,
        deleted=deleted,
        unchanged=len(hashes) - len(added) - len(changed),
        chunks_written=written,
        seconds=round(time.perf_counter() - started, 3),
        resumed=resumed,
        skipped=[asdict(s) for s in skipped],
    )


def _stage(
    version_id: int,
    folder: Path,
    files: dict[str, Path],
    sources: list[str],
    settings: Settings,
    embedder: TextEmbedder,
    chunks_per_write: int,
) -> tuple[int, list[Skipped]]:
    """Chunk, embed and stage ``sources`` ``chunks_per_write`` chunks at a time; a document's staged row is
    written with its last chunk or after it, never before. Returns the chunks written and the files found
    unusable on reading (changed since planning)."""
    from gyre.rag.embedder import as_pgvector

    pending: list[tuple[loader.Document, chunker.Chunk]] = []
    complete: list[tuple[loader.Document, int]] = []
    late: list[Skipped] = []
    written, done, batch_started = 0, 0, time.perf_counter()

    def flush() -> None:
        nonlocal written, done, batch_started
        vectors = embedder.embed([c.embedding_text() for _, c in pending])
        rows = [
            {
                "version_id": version_id,
                "source": d.source,
                "ordinal": c.ordinal,
                "heading": c.heading,
                "content": c.content,
                "category": d.category,
                "team": d.team,
                "tags": list(d.tags),
                "embedding": as_pgvector(vector),
            }
            for (d, c), vector in zip(pending, vectors, strict=True)
        ]
        with engine().begin() as connection:
            if rows:
                connection.execute(query("rag/stage_chunk.sql"), rows)
            if complete:
                connection.execute(query("rag/stage_document.sql"), [_document_row(version_id, *x) for x in complete])
        written += len(rows)
        done += len(complete)
        seconds = time.perf_counter() - batch_started
        log.info(
            "staged %d chunks (%.1f/s); %d of %d documents done, %d chunks so far",
            len(rows),
            len(rows) / seconds if seconds else 0.0,
            done,
            len(sources),
            written,
        )
        pending.clear()
        complete.clear()
        batch_started = time.perf_counter()

    for source in sources:
        try:
            document = loader.load(files[source], folder, max_bytes=settings.rag_max_file_bytes)
        except loader.Unusable as error:
            late.append(Skipped(source, error.reason, error.detail))
            log.warning("skipped %s (%s): %s", source, error.reason, error.detail)
            continue
        chunks = chunker.chunk(
            document.title, document.text, settings.rag_chunk_words, settings.rag_chunk_overlap, document.doc_type
        )
        for piece in chunks:
            pending.append((document, piece))
            if len(pending) >= chunks_per_write:
                flush()
        complete.append((document, len(chunks)))
    if pending or complete:
        flush()
    return written, late


def vacuum_analyze() -> None:
    """VACUUM and ANALYZE the index's tables (see the SQL file for why); VACUUM runs outside a transaction."""
    with engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(query("rag/vacuum_analyze.sql"))


def _document_row(version_id: int, document: loader.Document, chunks: int) -> dict[str, Any]:
    return {
        "version_id": version_id,
        "source": document.source,
        "content_hash": document.content_hash,
        "title": document.title,
        "doc_type": document.doc_type,
        "category": document.category,
        "team": document.team,
        "tags": list(document.tags),
        "chunks": chunks,
    }


def _publish(version_id: int, replaced: list[str], skipped: list[Skipped]) -> None:
    """One transaction: drop replaced and deleted documents, move the staged ones in, record the skipped."""
    params = {"version_id": version_id}
    with engine().begin() as connection:
        connection.execute(query("rag/delete_documents.sql"), {**params, "sources": replaced})
        connection.execute(query("rag/publish_documents.sql"), params)
        connection.execute(query("rag/publish_chunks.sql"), params)
        connection.execute(query("rag/discard_staged_documents.sql"), {**params, "keep": []})
        connection.execute(query("rag/discard_staged_chunks.sql"), params)
        _record_skipped(connection, version_id, skipped)


def _record_skipped(connection: sa.Connection, version_id: int, skipped: list[Skipped]) -> None:
    connection.execute(query("rag/clear_skipped.sql"), {"version_id": version_id})
    if skipped:
        connection.execute(query("rag/insert_skipped.sql"), [{"version_id": version_id, **asdict(s)} for s in skipped])


def skipped_documents(version_id: int) -> list[dict[str, Any]]:
    """The files the last sync of ``version_id`` did not index, with their reasons."""
    ensure_schema()
    with engine().connect() as connection:
        rows = connection.execute(query("rag/skipped_documents.sql"), {"version_id": version_id}).mappings().all()
    return [dict(row) for row in rows]


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
    """Score a version and the live one on the same golden set, record the candidate's result, judge it.

    The golden set is ``golden_path``, ``GYRE_RAG_GOLDEN_SET`` (either must exist), or ``golden_set.json`` in the
    documents folder. A folder without one is not scored: its first version goes live marked "no golden set",
    so that a team's own folder is served at once; replacing a live version needs a score to compare.
    """
    settings = settings or get_settings()
    path = Path(golden_path or settings.golden_set)
    live = live_version()
    live_eval = None
    if golden_path is None and settings.rag_golden_set is None and not path.exists():
        candidate = Evaluation(version_id, None, None, 0)
        if live is None or live["version_id"] == version_id:
            decision = GateDecision(True, [f"no golden set: {path} does not exist, so the version is not scored"])
        else:
            reason = f"no golden set: {path} does not exist, and a live version is only replaced after a score"
            decision = GateDecision(False, [reason])
        log.warning("index version %d: %s", version_id, decision.reasons[0])
    else:
        golden = load_golden_set(path)
        candidate = evaluate(version_id, golden, settings)
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
    if folder is not None:  # its golden_set.json, unless one is configured
        settings = settings.model_copy(update={"rag_docs_dir": Path(folder)})
    report = sync(folder, settings)
    candidate, live, decision = evaluate_version(report.version_id, settings, golden_path)
    result = {"sync": report.as_dict(), "evaluation": candidate.as_dict(), "gate": decision.reasons}
    if report.kind == "build":
        result["swap"] = asdict(swap(report.version_id, decision))
    return result
