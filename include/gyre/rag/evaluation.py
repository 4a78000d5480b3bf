"""Retrieval quality on the golden set (recall@5, MRR) and the gate a new index version must pass to go live.

Recall@5 counts, per question, the share of its answering documents found among the 5 chunks an answer
would be grounded in; MRR is the mean of 1/rank of the first chunk from an answering document.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gyre.config import Settings, get_settings


@dataclass(frozen=True)
class GoldenQuestion:
    question: str
    documents: tuple[str, ...]


@dataclass
class Evaluation:
    version_id: int
    recall_at_5: float | None  # None: not scored, the folder has no golden set
    mrr: float | None
    questions: int
    misses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]


def load_golden_set(path: Path) -> list[GoldenQuestion]:
    """The golden set; a malformed file fails with a message naming the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        items = raw["questions"] if isinstance(raw, dict) else raw
        questions = [GoldenQuestion(str(i["question"]), tuple(str(d) for d in i["documents"])) for i in items]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"golden set {path} is unreadable: {error}") from error
    if not questions or any(not q.documents for q in questions):
        raise ValueError(f"golden set {path} needs questions, each with at least one document")
    return questions


def evaluate(
    version_id: int, golden: list[GoldenQuestion], settings: Settings | None = None, embedder: Any = None
) -> Evaluation:
    """Recall@5 and MRR of one index version; ``misses`` lists questions with no answering document in the 5.

    ``embedder`` embeds the questions: the configured model unless the version was built with another.
    """
    from gyre.rag.embedder import as_pgvector, get_embedder
    from gyre.rag.retrieval import search

    settings = settings or get_settings()
    embedder = embedder or get_embedder(settings)
    vectors = embedder.embed([item.question for item in golden])  # one batch, not one call per question
    recalls, reciprocal_ranks, misses = [], [], []
    for item, vector in zip(golden, vectors, strict=True):
        hits = search(
            item.question,
            k=settings.rag_candidates,
            version_id=version_id,
            settings=settings,
            embedding=as_pgvector(vector),
        )
        wanted = set(item.documents)
        found = {hit.source for hit in hits[:5]} & wanted
        recalls.append(len(found) / len(wanted))
        rank = next((i for i, hit in enumerate(hits, start=1) if hit.source in wanted), None)
        reciprocal_ranks.append(1.0 / rank if rank else 0.0)
        if not found:
            misses.append(item.question)
    count = len(golden)
    return Evaluation(version_id, sum(recalls) / count, sum(reciprocal_ranks) / count, count, misses)


def gate(candidate: Evaluation, live: Evaluation | None, settings: Settings | None = None) -> GateDecision:
    """Floors on recall@5 and MRR, and no more than ``rag_gate_max_drop`` worse than the live version."""
    settings = settings or get_settings()
    reasons = []
    if candidate.recall_at_5 < settings.rag_gate_min_recall_at_5:
        reasons.append(f"recall@5 {candidate.recall_at_5:.3f} < floor {settings.rag_gate_min_recall_at_5:.3f}")
    if candidate.mrr < settings.rag_gate_min_mrr:
        reasons.append(f"MRR {candidate.mrr:.3f} < floor {settings.rag_gate_min_mrr:.3f}")
    if live is not None and live.version_id != candidate.version_id:
        for name in ("recall_at_5", "mrr"):
            ours, theirs = getattr(candidate, name), getattr(live, name)
            if ours < theirs - settings.rag_gate_max_drop:
                reasons.append(f"{name} {ours:.3f} is more than {settings.rag_gate_max_drop} below live {theirs:.3f}")
    return GateDecision(passed=not reasons, reasons=reasons)
