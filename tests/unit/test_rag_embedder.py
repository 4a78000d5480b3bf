"""The embedder's float types: bfloat16 vectors stand in for float32's (same model, same weights), and the type
is part of a bfloat16 index version's configuration while a float32 version keeps the hash it had."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from gyre.config import load_settings
from gyre.rag import chunker, indexer, loader
from gyre.rag.embedder import PACKAGED_MODEL, Embedder, embedding_dtype

CORPUS = Path(__file__).resolve().parents[2] / "docs_corpus"


def test_bfloat16_vectors_are_unit_length_float32_rows_close_to_float32_ones() -> None:
    document = loader.load(CORPUS / "policies" / "chargeback-policy.md", CORPUS)
    texts = [c.embedding_text() for c in chunker.chunk(document.title, document.text, 160, 30)]
    exact = Embedder(PACKAGED_MODEL, 8, "float32").embed(texts)
    half = Embedder(PACKAGED_MODEL, 8, "bfloat16").embed(texts)
    assert half.dtype == np.float32 and half.shape == exact.shape
    assert np.allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    assert (half * exact).sum(axis=1).min() > 0.999


def test_the_float_type_names_a_bfloat16_index_version_and_leaves_float32_ones_as_they_were() -> None:
    settings = load_settings(rag_embedding_dtype="float32")
    before = {
        "model": settings.rag_embedding_model,
        "chunk_words": settings.rag_chunk_words,
        "chunk_overlap": settings.rag_chunk_overlap,
        "chunker": indexer.CHUNKER_VERSION,
    }
    assert indexer.config_hash(settings) == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
    half = settings.model_copy(update={"rag_embedding_dtype": "bfloat16"})
    assert embedding_dtype(half) == "bfloat16" and indexer.config_hash(half) != indexer.config_hash(settings)
    auto = settings.model_copy(update={"rag_embedding_dtype": "auto"})
    assert embedding_dtype(auto) in ("float32", "bfloat16")
