"""Draft a golden set from a folder's documents, for a person to review before it gates anything.

A folder without a golden set goes live unscored; a draft gives its owners a start: per document, a question
about a section (its heading, or for headless text the terms that set the passage apart from the rest of the
folder) with the passage it came from. The questions echo the documents' words, so a draft scores retrieval
too kindly until someone rewrites them the way analysts ask; hence a separate file, never the live one.
"""

from __future__ import annotations

import collections
import math
import re
from pathlib import Path
from typing import Any

from gyre.rag import chunker, loader

DRAFT_NOTE = (
    "Drafted from the documents: rewrite each question the way a user would ask it, check its documents, "
    "drop the passages, then save the file as golden_set.json to gate new index versions."
)
_WORD = re.compile(r"[a-z][a-z0-9-]{3,}")


def draft(folder: Path, words: int, overlap: int, per_document: int = 2) -> dict[str, Any]:
    """Up to ``per_document`` questions per usable document, with the document and the passage."""
    documents = []
    for path in loader.scan(folder):
        try:
            document = loader.load(path, folder)
        except loader.Unusable:
            continue  # the sync skips it too, with its reason
        pieces = chunker.chunk(document.title, document.text, words, overlap, document.doc_type)
        documents.append((document, pieces))
    frequency = collections.Counter(w for _, pieces in documents for c in pieces for w in set(_words(c.content)))
    total = sum(len(pieces) for _, pieces in documents)
    questions = []
    for document, pieces in documents:
        seen: set[str] = set()
        for piece in pieces:
            topic = _topic(document.title, piece, frequency, total)
            if topic and topic not in seen:
                seen.add(topic)
                questions.append(
                    {
                        "question": f"What does {document.title} say about {topic}?",
                        "documents": [document.source],
                        "passage": " ".join(piece.content.split()[:60]),
                    }
                )
            if len(seen) == per_document:
                break
    return {"draft": DRAFT_NOTE, "questions": questions}


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _topic(title: str, piece: chunker.Chunk, frequency: collections.Counter[str], total: int) -> str | None:
    """A section's own heading, else the passage's three rarest frequent words (tf-idf)."""
    section = piece.heading.split(" > ")[-1]
    if section != title:
        return section
    counts = collections.Counter(_words(piece.content))
    score = {w: n * math.log((1 + total) / frequency[w]) for w, n in counts.items() if w not in title.lower()}
    best = sorted(score, key=lambda w: (-score[w], w))[:3]
    return ", ".join(best) or None
