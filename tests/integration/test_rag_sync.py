"""A team's own folder on the real Postgres + pgvector: bad files are skipped with their reasons while the
good ones are indexed, the same bytes under two names are indexed once, plain text keeps its ``#`` lines as
text, and a sync that fails midway leaves the live index as it was and is resumed by the next one."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from gyre.config import Settings, load_settings
from gyre.db import engine, query
from gyre.rag import indexer
from gyre.rag.embedder import get_embedder
from gyre.rag.retrieval import search
from tests.integration import rag_support
from tests.integration.rag_support import count

pytestmark = pytest.mark.integration
GOOD = ["policies/chargeback-policy.md", "runbooks/atm-cash-out.md", "glossary/merchant-category-codes.md"]
SHELL_NOTES = (
    "Rotating the fraud agent's signing key is done from the bastion host, one region at a time.\n\n"
    "# stop the agent first\nsystemctl stop fraud-agent\n# rotate the zephyrine signing key\n"
    "fraud-agent rotate-key --region eu\n# start it again\nsystemctl start fraud-agent\n"
)
BAD = {
    "runbooks/diagram.md": ("binary", gzip.compress(b"\x89PNG\r\n\x1a\n" * 50, mtime=0)),
    "runbooks/with-nul.txt": ("binary", b"An ordinary runbook line\nwith one \x00 NUL byte in it.\n"),
    "policies/empty.md": ("empty", b""),
    "glossary/latin1.txt": ("invalid_utf8", "Carte bancaire: numéro, expiré, reçu".encode("latin-1")),
    "runbooks/huge.txt": ("too_large", b"lorem ipsum dolor sit amet " * 1000),
}
MAX_BYTES = 20_000
COPY = "policies/old/chargeback-policy.md"  # sorts after the original: the first name is indexed


class Embedder:
    """The real embedder, counting what it embeds and raising on its ``fail_on``-th batch (a lost worker)."""

    def __init__(self, settings: Settings, fail_on: int | None = None) -> None:
        self.inner = get_embedder(settings)
        self.fail_on, self.batches, self.texts = fail_on, 0, 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches += 1
        if self.batches == self.fail_on:
            raise RuntimeError(f"embedding batch {self.batches} failed")
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def folder(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rag_support.reset_tables()
    root = rag_support.copy_corpus(tmp_path_factory.mktemp("rag-sync") / "docs", GOOD)
    (root / "runbooks/key-rotation_notes.txt").write_text(SHELL_NOTES)
    (root / COPY).parent.mkdir()
    shutil.copy(root / GOOD[0], root / COPY)
    for source, (_, raw) in BAD.items():
        (root / source).write_bytes(raw)
    return root


@pytest.fixture(scope="module")
def settings(folder: Path) -> Settings:
    return load_settings(rag_docs_dir=folder, rag_max_file_bytes=MAX_BYTES)


@pytest.fixture(scope="module")
def first(settings: Settings) -> indexer.SyncReport:
    return indexer.sync(settings=settings, embedder=Embedder(settings), chunks_per_write=4)


def _index(version_id: int) -> list[tuple]:
    """What readers see of a version: every document with its hash and every chunk id."""
    params = {"v": version_id}
    with engine().connect() as connection:
        documents = connection.execute(
            sa.text("select source, content_hash, chunks from rag_documents where version_id = :v order by 1"), params
        ).all()
        chunks = connection.execute(
            sa.text("select chunk_id, source from rag_chunks where version_id = :v order by 1"), params
        ).all()
    return [tuple(row) for row in documents + chunks]


def test_bad_files_are_skipped_with_their_reasons_and_the_good_ones_indexed(first: indexer.SyncReport) -> None:
    assert first.added == sorted([*GOOD, "runbooks/key-rotation_notes.txt"])
    reasons = {item["source"]: item["reason"] for item in first.skipped}
    assert reasons == {COPY: "duplicate", **{s: r for s, (r, _) in BAD.items()}}
    recorded = indexer.skipped_documents(first.version_id)
    assert {row["source"]: row["reason"] for row in recorded} == reasons
    details = {row["source"]: row for row in recorded}
    assert "NUL byte at offset" in details["runbooks/with-nul.txt"]["detail"]
    assert "byte offset 19" in details["glossary/latin1.txt"]["detail"]
    assert "GYRE_RAG_MAX_FILE_BYTES" in details["runbooks/huge.txt"]["detail"]
    assert details[COPY]["duplicate_of"] == GOOD[0]
    sources = count(
        "select array_agg(source order by source) from rag_documents where version_id = :v", v=first.version_id
    )
    assert sources == first.added
    assert count("select count(*) from rag_documents where chunks = 0") == 0
    assert count("select count(*) from rag_staged_chunks") + count("select count(*) from rag_staged_documents") == 0


def test_the_same_bytes_under_two_names_take_one_rank(first: indexer.SyncReport, settings: Settings) -> None:
    hits = search("How many days to raise a Visa chargeback?", k=5, settings=settings, version_id=first.version_id)
    assert hits[0].source == GOOD[0]
    assert all(h.source != COPY for h in hits)


def test_plain_text_comment_lines_stay_text_and_the_title_is_the_file_name(first: indexer.SyncReport) -> None:
    source = "runbooks/key-rotation_notes.txt"
    assert count("select title from rag_documents where source = :s", s=source) == "key rotation notes"
    headings = count("select array_agg(distinct heading) from rag_chunks where source = :s", s=source)
    assert headings == ["key rotation notes"]
    assert "# rotate the zephyrine signing key" in count("select content from rag_chunks where source = :s", s=source)


def test_a_second_sync_of_the_same_version_is_refused_while_one_runs(
    first: indexer.SyncReport, settings: Settings
) -> None:
    params = {"version_id": first.version_id}
    with engine().connect() as running:
        assert running.execute(query("rag/try_sync_lock.sql"), params).scalar_one()
        with pytest.raises(RuntimeError, match="another sync of index version"):
            indexer.sync(settings=settings, embedder=Embedder(settings, fail_on=1))
        running.execute(query("rag/sync_unlock.sql"), params)
    assert indexer.sync(settings=settings, embedder=Embedder(settings, fail_on=1)).chunks_written == 0


def test_a_sync_that_fails_midway_changes_nothing_and_the_next_one_resumes(
    first: indexer.SyncReport, settings: Settings, folder: Path
) -> None:
    version = first.version_id
    before = _index(version)
    new = [f"runbooks/drill-{n}.md" for n in range(1, 5)]  # one chunk each
    for n, source in enumerate(new, start=1):
        (folder / source).write_text(f"# Drill {n}\n\nThe quarterly drill number {n} rehearses a card reissue.\n")
    (folder / GOOD[1]).unlink()  # deleted: it must stay in the live index until the sync succeeds
    notes = "runbooks/key-rotation_notes.txt"
    (folder / notes).write_text(SHELL_NOTES + "\nThe zephyrine key is rotated every 90 days.\n")  # changed

    # batch 1 stages drill-1 and drill-2's chunk (drill-1 is complete); batch 2 fails
    with pytest.raises(RuntimeError, match="embedding batch 2 failed"):
        indexer.sync(settings=settings, embedder=Embedder(settings, fail_on=2), chunks_per_write=2)
    assert _index(version) == before, "the live index is unchanged, deletions included"
    assert all(
        h.source not in new for h in search("quarterly drill card reissue", k=5, settings=settings, version_id=version)
    )
    staged = "select array_agg(source order by source) from rag_staged_documents where version_id = :v"
    assert count(staged, v=version) == [new[0]]

    (folder / "runbooks/diagram.md").write_text("# Diagram\n\nThe diagram is now a described flow of alerts.\n")
    embedder = Embedder(settings)
    report = indexer.sync(settings=settings, embedder=embedder, chunks_per_write=2)
    assert report.resumed == [new[0]] and report.deleted == [GOOD[1]] and report.changed == [notes]
    assert report.added == ["runbooks/diagram.md", *new]
    assert "runbooks/diagram.md" not in {row["source"] for row in indexer.skipped_documents(version)}
    embedded = "select sum(chunks) from rag_documents where version_id = :v and source = any(:s)"
    assert (
        embedder.texts
        == report.chunks_written
        == count(embedded, v=version, s=["runbooks/diagram.md", notes, *new[1:]])
    )
    assert count("select count(*) from rag_documents where source = :s", s=GOOD[1]) == 0
    assert set(new) <= {
        h.source for h in search("quarterly drill card reissue", k=8, settings=settings, version_id=version)
    }
    assert count("select count(*) from rag_chunks where content like '%every 90 days%'") == 1
    assert count("select count(*) from rag_staged_chunks") + count("select count(*) from rag_staged_documents") == 0
    again = indexer.sync(settings=settings, embedder=Embedder(settings, fail_on=1))
    assert (again.added, again.changed, again.deleted, again.chunks_written) == ([], [], [], 0), "nothing embedded"


def test_a_folder_without_a_golden_set_goes_live_unscored_and_then_keeps_its_live_version(
    first: indexer.SyncReport, settings: Settings, folder: Path
) -> None:
    assert settings.golden_set == folder / "golden_set.json" and not settings.golden_set.exists()
    result = indexer.refresh(settings=settings)
    assert result["swap"]["swapped"] is True and result["gate"][0].startswith("no golden set")
    live = indexer.live_version()
    assert live["version_id"] == first.version_id and live["recall_at_5"] is None
    recorded = "select gate_reasons->>0 from rag_index_versions where version_id = :v"
    assert count(recorded, v=first.version_id).startswith("no golden set")

    other = settings.model_copy(update={"rag_chunk_words": 60, "rag_chunk_overlap": 10})
    rebuilt = indexer.refresh(settings=other)
    assert rebuilt["swap"]["swapped"] is False and "only replaced after a score" in rebuilt["gate"][0]
    assert indexer.live_version()["version_id"] == first.version_id
