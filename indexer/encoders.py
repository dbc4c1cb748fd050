"""The inference-backend seam: what turns texts into vectors once the model is loaded.

``POLICYQA_BACKEND`` names the backend: ``torch`` runs the sentence-transformers model as it is; ``onnx``
and ``onnx-int8`` (``indexer/onnx_encoder.py``) run its transformer exported to ONNX Runtime, fp32 or with
int8 weights, and keep sentence-transformers' own tokenisation, prompts, pooling and normalisation; once an
export exists, ``indexer/onnx_serving.py`` runs it with ONNX Runtime and the tokenizers library alone (no
torch, no sentence-transformers: the fast start of a server). An encoder whose vectors are not interchangeable
with torch's (int8) names itself in ``id_suffix``, which the embedder adds to the model id: the embedding
cache and the index manifest then keep its vectors apart.

How many threads one inference uses is decided here once for every backend (and FAISS):
:func:`set_inference_threads`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Literal, Protocol, get_args

import numpy as np

from policyqa.registry import Registry

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from policyqa.indexer.settings import IndexSettings

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
INT8_SUFFIX = "+int8"  # on the model id of vectors made with int8 weights

ENCODERS = Registry(
    "inference backend",
    {
        "torch": "policyqa.indexer.encoders:TorchEncoder",
        "onnx": "policyqa.indexer.onnx_encoder:OnnxEncoder",
        "onnx-int8": "policyqa.indexer.onnx_encoder:Int8OnnxEncoder",
    },
)
_inference_threads: int | None = None  # None: the libraries' own default (every core)


def set_inference_threads(threads: int) -> None:
    """Compute each inference on ``threads`` threads from now on: torch (when loaded), FAISS, and the ONNX
    Runtime sessions created afterwards. The server uses one, as its parallelism comes from concurrent
    requests: several multi-threaded inferences on the same cores spin against each other (query embedding
    p50 974 ms vs 19 ms measured under load)."""
    global _inference_threads
    import faiss

    _inference_threads = threads
    faiss.omp_set_num_threads(threads)
    give_torch_inference_threads()


def give_torch_inference_threads() -> None:
    """Give torch, once imported, the threads per inference set before (torch is never imported for this
    alone: a torch-free server does not load it; where a model is loaded with it, this is called after)."""
    if _inference_threads is not None and (torch := sys.modules.get("torch")) is not None:
        torch.set_num_threads(_inference_threads)


def inference_threads() -> int:
    """Threads per inference: as set by :func:`set_inference_threads`, else every core."""
    return _inference_threads or os.cpu_count() or 1


class Encoder(Protocol):
    """Texts in, L2-normalised float32 vectors out, for one loaded model.

    Implementations are classes with a ``load(model, model_id, settings)`` class method."""

    backend: Backend
    id_suffix: str  # "" when the vectors agree with torch's to fp32 precision
    dimension: int
    max_tokens: int  # the model's input limit; longer texts are truncated

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        """``(len(texts), dimension)`` embeddings of ``prompt + text``, in one batch."""
        ...

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text, without prompt and special tokens."""
        ...


class TorchEncoder:
    """The sentence-transformers model itself (PyTorch)."""

    backend: Backend = "torch"
    id_suffix = ""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model
        self.dimension: int = model.get_embedding_dimension()
        self.max_tokens: int = model.max_seq_length

    @classmethod
    def load(cls, model: SentenceTransformer, model_id: str, settings: IndexSettings) -> TorchEncoder:
        """The encoder of ``model`` (nothing to prepare)."""
        return cls(model)

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        """``(len(texts), dimension)`` embeddings of ``prompt + text``, in one batch."""
        embeddings = self.model.encode(
            texts,
            prompt=prompt or None,
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(embeddings, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text, without prompt and special tokens."""
        return count_model_tokens(self.model, texts)


def count_model_tokens(model: SentenceTransformer, texts: list[str]) -> list[int]:
    """Tokens per text in ``model``'s tokenizer, without prompt and special tokens."""
    if not texts:
        return []
    return [len(ids) for ids in model.tokenizer(texts, add_special_tokens=False)["input_ids"]]


def load_encoder(model: SentenceTransformer, model_id: str, settings: IndexSettings) -> Encoder:
    """The encoder ``settings.backend`` names for ``model`` (exported first when it needs to be)."""
    return ENCODERS.resolve(settings.backend).load(model, model_id, settings)
