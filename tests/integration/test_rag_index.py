"""The document index on the real Postgres + pgvector: sync by content hash (add, change, delete, re-run),
hybrid retrieval with filters (and SQL in filter values), and new index versions gated on the golden set."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from gyre.config import Settings, load_settings
from gyre.db import engine
from gyre.rag import indexer
from gyre.rag.retrieval import FilterError, question_terms, search
from tests.integration import rag_support
from tests.integration.rag_support import CORPUS, count

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def folder(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rag_support.reset_tables()
    return rag_support.copy_corpus(tmp_path_factory.mktemp("rag") / "docs")


@pytest.fixture(scope="module")
def settings(folder: Path) -> Settings:
    return load_settings(rag_docs_dir=folder, rag_golden_set=CORPUS / "golden_set.json")


@pytest.fixture(scope="module")
def first(settings: Settings) -> dict:
    return indexer.refresh(settings=settings)


def test_first_run_indexes_every_document_and_goes_live_after_evaluation(first: dict, folder: Path) -> None:
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    assert first["sync"]["kind"] == "build" and len(first["sync"]["added"]) == files >= 30
    assert first["swap"]["swapped"] is True
    live = indexer.live_version()
    assert live["version_id"] == first["sync"]["version_id"]
    assert live["recall_at_5"] == first["evaluation"]["recall_at_5"] >= 0.8
    assert live["mrr"] >= 0.6
    version = live["version_id"]
    chunks = count("select count(*) from rag_chunks where version_id = :v", v=version)
    assert (
        chunks
        == first["sync"]["chunks_written"]
        == count("select sum(chunks) from rag_documents where version_id = :v", v=version)
    )


def test_rerun_on_an_unchanged_folder_writes_nothing(first: dict, settings: Settings) -> None:
    ids = count("select sum(chunk_id) from rag_chunks")
    report = indexer.sync(settings=settings)
    assert (report.kind, report.added, report.changed, report.deleted, report.chunks_written) == (
        "incremental",
        [],
        [],
        [],
        0,
    )
    assert count("select sum(chunk_id) from rag_chunks") == ids


def test_added_changed_and_deleted_documents_follow_the_folder(first: dict, settings: Settings, folder: Path) -> None:
    version = first["sync"]["version_id"]
    deleted, changed = "runbooks/atm-cash-out.md", "policies/alert-sla.md"
    kept_ids = count("select sum(chunk_id) from rag_chunks where source = 'glossary/fraud-terms.md'")
    original_deleted, original_changed = (folder / deleted).read_text(), (folder / changed).read_text()
    (folder / "runbooks/zebra-refunds.md").write_text(
        "---\ntitle: Zebracorn refund loop\ncategory: runbook\n---\n# Zebracorn refund loop\n\n"
        "A zebracorn refund loop is a merchant refunding cards that never bought anything, in a circle.\n"
    )
    (folder / changed).write_text(original_changed + "\n## Quasar queue\n\nThe quasar queue closes within 7 minutes.\n")
    (folder / deleted).unlink()
    try:
        report = indexer.sync(settings=settings)
        assert report.added == ["runbooks/zebra-refunds.md"]
        assert report.changed == [changed] and report.deleted == [deleted]
        assert count("select count(*) from rag_chunks where source = :s", s=deleted) == 0
        assert count("select count(*) from rag_documents where source = :s", s=deleted) == 0
        hits = search("zebracorn refund loop", settings=settings)
        assert hits[0].source == "runbooks/zebra-refunds.md" and hits[0].version_id == version
        assert search("quasar queue", settings=settings)[0].source == changed
        assert all(h.source != deleted for h in search("ATM cash-out unlimited operation MCC 6011", settings=settings))
        assert count("select sum(chunk_id) from rag_chunks where source = 'glossary/fraud-terms.md'") == kept_ids
    finally:
        (folder / "runbooks/zebra-refunds.md").unlink()
        (folder / deleted).write_text(original_deleted)
        (folder / changed).write_text(original_changed)
    restored = indexer.sync(settings=settings)
    assert restored.added == [deleted] and restored.deleted == ["runbooks/zebra-refunds.md"]


def test_hybrid_search_fuses_both_retrievers_and_filters_by_metadata(first: dict, settings: Settings) -> None:
    hits = search("Which Visa reason code is 10.4?", k=5, settings=settings)
    assert hits[0].source in ("glossary/chargeback-reason-codes.md", "policies/chargeback-policy.md")
    assert any(h.vector_rank and h.text_rank for h in hits), "both retrievers contribute"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    policies = search("chargeback time limits", {"category": "policy"}, k=8, settings=settings)
    assert policies and {h.category for h in policies} == {"policy"}
    two = search("chargeback", {"category": ["glossary", "runbook"]}, k=10, settings=settings)
    assert {h.category for h in two} <= {"glossary", "runbook"} and len({h.category for h in two}) == 2
    tagged = search("what to do", {"tag": "atm"}, settings=settings)
    assert tagged and {h.source for h in tagged} == {"runbooks/atm-cash-out.md"}
    assert {h.team for h in search("reason codes", {"team": "disputes"}, settings=settings)} == {"disputes"}


def test_full_text_candidates_are_found_by_the_rarest_words_and_ranked_by_all(first: dict, settings: Settings) -> None:
    """The sync's ANALYZE tells how many chunks hold each word: the question's five rarest find the candidates
    (common words would make GIN read most of the index), and every word of the question ranks them."""
    stable = "tsvector_to_array(to_tsvector('english', word)) = array[word]"  # the word is its own stem
    with engine().connect() as connection:
        words = connection.execute(
            sa.text(f"select word, ndoc from ts_stat('select tsv from rag_chunks') where {stable} order by ndoc, word")
        ).all()
        common, rare = [w for w, _ in words[-4:]], [w for w, _ in words[:5]]
        question = " ".join(common + rare)
        terms = question_terms(connection, question)
        assert sorted(w.strip("'") for w in terms["one_word"]) == sorted(rare)
        pairs = terms["two_words"]
        assert len(pairs) == 10 and not any(f"'{w}'" in pair for pair in pairs for w in common)
        assert sorted(terms["any_word"].replace("'", "").split(" | ")) == sorted(common + rare)
        hits = [h for h in search(question, k=20, settings=settings) if h.text_rank]
        params = {"ids": [h.chunk_id for h in hits], "rare": terms["one_word"]}
        missing = (
            "select count(*) from rag_chunks where chunk_id = any(:ids) and not tsv @@ any(cast(:rare as tsquery[]))"
        )
        assert hits and connection.execute(sa.text(missing), params).scalar_one() == 0
    stop_words_only = search("what is the", k=5, settings=settings)
    assert stop_words_only and all(h.text_rank is None and h.vector_rank for h in stop_words_only)


@pytest.mark.parametrize(
    "filters",
    [
        {"category": "policy' OR '1'='1"},
        {"team": "x'); drop table rag_chunks; --"},
        {"source": "runbooks/atm-cash-out.md' or true --"},
        {"category": ["policy", "runbook') or 1=1 --"]},
    ],
)
def test_sql_in_filter_values_is_only_ever_a_value(first: dict, settings: Settings, filters: dict) -> None:
    before = count("select count(*) from rag_chunks")
    hits = search("chargeback", filters, k=20, settings=settings)
    assert all(h.category in ("policy", "runbook") for h in hits) if "category" in filters else hits == []
    if isinstance(filters.get("category"), list):
        assert {h.category for h in hits} == {"policy"}
    assert count("select count(*) from rag_chunks") == before


def test_unknown_filter_keys_are_refused_before_any_sql(first: dict, settings: Settings) -> None:
    for filters in ({"1=1; drop table rag_chunks; --": "x"}, {"content": "x"}, {"category": {"$ne": 1}}):
        with pytest.raises(FilterError):
            search("chargeback", filters, settings=settings)


def test_new_chunk_setting_builds_beside_live_and_swaps_only_after_passing(first: dict, settings: Settings) -> None:
    old = indexer.live_version()["version_id"]
    rejected_settings = settings.model_copy(
        update={"rag_chunk_words": 60, "rag_chunk_overlap": 10, "rag_gate_min_recall_at_5": 1.0}
    )
    report = indexer.sync(settings=rejected_settings)
    assert report.kind == "build" and report.version_id != old
    assert search("chargeback", settings=settings)[0].version_id == old, "the live version answers during a build"
    candidate, live, decision = indexer.evaluate_version(report.version_id, rejected_settings)
    assert live is not None and live.version_id == old
    assert not decision.passed and any("recall@5" in reason for reason in decision.reasons)
    result = indexer.swap(report.version_id, decision)
    assert not result.swapped and indexer.version(report.version_id)["status"] == "rejected"
    assert indexer.live_version()["version_id"] == old

    better = settings.model_copy(update={"rag_chunk_words": 120, "rag_chunk_overlap": 20})
    refreshed = indexer.refresh(settings=better)
    new = refreshed["sync"]["version_id"]
    assert refreshed["swap"]["swapped"] is True and refreshed["swap"]["previous_live"] == old
    assert indexer.live_version()["version_id"] == new
    assert indexer.version(old)["status"] == "retired"
    assert count("select count(*) from rag_chunks where version_id = :v", v=old) == 0, "retired rows purged"
    assert search("chargeback", settings=better)[0].version_id == new
    again = indexer.refresh(settings=better)
    assert again["sync"]["kind"] == "incremental" and "swap" not in again
