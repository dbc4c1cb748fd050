"""The inference-backend seam: what turns texts into vectors once the model is loaded.

``POLICYQA_BACKEND`` names the backend: ``torch`` runs the sentence-transformers model as it is; ``onnx``
and ``onnx-int8`` (``indexer/onnx_encoder.py``) run its transformer exported to ONNX Runtime, fp32 or with
int8 weights, and keep sentence-transformers' own tokenisation, prompts, pooling and normalisation. An
encoder whose vectors are not interchangeable with torch's (int8) names itself in ``id_suffix``, which the
embedder adds to the model id: the embedding cache and the index manifest then keep its vectors apart.
"""

from __future__ import annotations

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


class Encoder(Protocol):
    """Texts in, L2-normalised float32 vectors out, for one loaded model.

    Implementations are classes with a ``load(model, model_id, settings)`` class method."""

    backend: Backend
    id_suffix: str  # "" when the vectors agree with torch's to fp32 precision

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        """``(len(texts), dimension)`` embeddings of ``prompt + text``, in one batch."""
        ...


class TorchEncoder:
    """The sentence-transformers model itself (PyTorch)."""

    backend: Backend = "torch"
    id_suffix = ""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model

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


def load_encoder(model: SentenceTransformer, model_id: str, settings: IndexSettings) -> Encoder:
    """The encoder ``settings.backend`` names for ``model`` (exported first when it needs to be)."""
    return ENCODERS.resolve(settings.backend).load(model, model_id, settings)
