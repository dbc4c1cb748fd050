"""The inference-backend seam: what turns texts into vectors once the model is loaded.

``POLICYQA_BACKEND`` names the backend: ``torch`` runs the sentence-transformers model as it is; ``onnx``
and ``onnx-int8`` (``indexer/onnx_encoder.py``) run its transformer exported to ONNX Runtime, fp32 or with
int8 weights, ``openvino`` the fp32 export compiled by OpenVINO (bf16 where the CPU has it), all keeping
sentence-transformers' own tokenisation, prompts, pooling and normalisation; once an export exists,
``indexer/onnx_serving.py`` runs it with its runtime and the tokenizers library alone (no torch, no
sentence-transformers: the fast start of a server). An encoder whose vectors are not interchangeable
with torch's (int8) names itself in ``id_suffix``, which the embedder adds to the model id: the embedding
cache and the index manifest then keep its vectors apart.

How many threads one inference uses is decided here once for every backend (and FAISS):
:func:`set_inference_threads`.

Besides the vectors, every encoder can return each text's token outputs with their character spans
(``encode_tokens``): the index pools its sentence vectors from the passage pass that makes the passage
vectors (``indexer/sentence_vectors.py``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, get_args

import numpy as np

from policyqa.registry import Registry

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from policyqa.indexer.settings import IndexSettings

Backend = Literal["torch", "onnx", "onnx-int8", "openvino"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
INT8_SUFFIX = "+int8"  # on the model id of vectors made with int8 weights

ENCODERS = Registry(
    "inference backend",
    {
        "torch": "policyqa.indexer.encoders:TorchEncoder",
        "onnx": "policyqa.indexer.onnx_encoder:OnnxEncoder",
        "onnx-int8": "policyqa.indexer.onnx_encoder:Int8OnnxEncoder",
        "openvino": "policyqa.indexer.onnx_encoder:OpenVinoEncoder",
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


@dataclass(frozen=True)
class TokenOutputs:
    """One text's token vectors (the transformer's last hidden states, float32) and each token's character
    span in the text, ``(tokens, 2)``: the prompt's tokens end at or before 0, special tokens are empty."""

    vectors: np.ndarray
    spans: np.ndarray


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

    def encode_tokens(self, texts: list[str], prompt: str) -> tuple[np.ndarray, list[TokenOutputs] | None]:
        """What ``encode`` returns, and each text's token outputs from the same pass (None when the model's
        tokenizer cannot say where its tokens are in the text)."""
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

    def encode_tokens(self, texts: list[str], prompt: str) -> tuple[np.ndarray, list[TokenOutputs] | None]:
        """What ``encode`` returns, and each text's token outputs from the same pass."""
        import torch

        features = self.model.preprocess(texts, prompt=prompt or None)
        with torch.inference_mode():
            output = self.model(features)
        vectors = normalized(output["sentence_embedding"].float().numpy())
        hidden = output["token_embeddings"].float().numpy()
        return vectors, token_outputs(self.model, texts, prompt, features, hidden)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text, without prompt and special tokens."""
        return count_model_tokens(self.model, texts)


def normalized(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (rows) scaled to unit length, as float32."""
    vectors = vectors.astype(np.float32, copy=False)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def token_outputs(
    model: SentenceTransformer, texts: list[str], prompt: str, features: dict, hidden: np.ndarray
) -> list[TokenOutputs] | None:
    """Each text's rows of ``hidden`` (the transformer's outputs for ``features``, sentence-transformers'
    own tokenisation of ``prompt + text``) with the character spans its fast tokenizer reports; None when
    the tokenizer reports none or tokenises differently (the spans would then point elsewhere)."""
    try:
        encoded = model.tokenizer(
            [prompt + text for text in texts],
            return_offsets_mapping=True,
            truncation=True,
            max_length=model.max_seq_length,
        )
    except (NotImplementedError, TypeError, ValueError):  # a slow tokenizer has no offsets
        return None
    masks = features["attention_mask"].numpy().astype(bool)
    ids = features["input_ids"].numpy()
    outputs = []
    for row, (mask, offsets) in enumerate(zip(masks, encoded["offset_mapping"], strict=True)):
        if ids[row][mask].tolist() != encoded["input_ids"][row]:
            return None
        spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2) - len(prompt)
        outputs.append(TokenOutputs(hidden[row][mask], spans))
    return outputs


def count_model_tokens(model: SentenceTransformer, texts: list[str]) -> list[int]:
    """Tokens per text in ``model``'s tokenizer, without prompt and special tokens."""
    if not texts:
        return []
    return [len(ids) for ids in model.tokenizer(texts, add_special_tokens=False)["input_ids"]]


def load_encoder(model: SentenceTransformer, model_id: str, settings: IndexSettings) -> Encoder:
    """The encoder ``settings.backend`` names for ``model`` (exported first when it needs to be)."""
    return ENCODERS.resolve(settings.backend).load(model, model_id, settings)
