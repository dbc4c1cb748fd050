"""Embeddings from an ONNX export alone: ONNX Runtime (or OpenVINO) plus the tokenizers library, neither torch
nor sentence-transformers imported (docs/decisions/2026-12-02-torch-free-serving.md).

Importing sentence-transformers (and with it torch and transformers) and building the model took ~10 of a
server's 12 s cold start and held a second copy of the weights beside the ONNX session. An export made by
``indexer/onnx_encoder.py`` therefore also records, in its marker's ``serving`` entry, what inference needs
besides the graph: the tokenizer (``tokenizer.json``), the input limit, the pooling and the prompts
(vectors are L2-normalised, as every backend returns them). It is written only for the pipelines run here
(transformer → mean or CLS pooling → optional normalisation) and only after this encoder reproduced
sentence-transformers' token ids and, within the backend's bound, torch's vectors on the export's check
texts; any other model runs through sentence-transformers as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from policyqa.indexer.encoders import INT8_SUFFIX, Backend, TokenOutputs, inference_threads, normalized
from policyqa.indexer.errors import ModelLoadError
from policyqa.registry import Registry

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# The layout of an export folder (HOME/models/onnx/<digest of the model id>/), written by onnx_encoder.py.
EXPORT_FORMAT = 5  # bump when what an export holds changes; older exports are remade
MARKER_NAME = "policyqa-onnx.json"
FP32_FILE, INT8_FILE = "model.onnx", "model-int8.onnx"
WEIGHTS_FILE = "{model}.data"  # a model's weights (ONNX external data), memory-mapped by the runtime
TOKENIZER_FILE = "tokenizer.json"
# Per backend: the graph it runs and the suffix its vectors add to the model id ("" when interchangeable
# with torch's: OpenVINO's bf16 agrees to ~0.9999 and retrieves alike, docs/decisions/2026-12-03-openvino.md).
MODEL_FILES: dict[Backend, tuple[str, str]] = {
    "onnx": (FP32_FILE, ""),
    "onnx-int8": (INT8_FILE, INT8_SUFFIX),
    "openvino": (FP32_FILE, ""),
}
# agreement required with torch, per check text
MIN_COSINE: dict[Backend, float] = {"onnx": 0.9999, "onnx-int8": 0.99, "openvino": 0.999}
RUNTIMES = Registry(
    "ONNX runtime",
    {
        "onnx": "policyqa.indexer.onnx_serving:OnnxRuntimeSession",
        "onnx-int8": "policyqa.indexer.onnx_serving:OnnxRuntimeSession",
        "openvino": "policyqa.indexer.openvino_session:OpenVinoSession",
    },
)
SERVING_KEY = "serving"  # the marker's entry holding a ServingSpec
COUNT_BATCH = 512  # texts per tokenizer call when counting tokens (each call's padding is bounded by it)
Pooling = Literal["mean", "cls"]
POOLINGS: tuple[Pooling, ...] = ("mean", "cls")


@dataclass(frozen=True)
class ServingSpec:
    """What running an export needs besides its graph."""

    dimension: int
    max_tokens: int
    pooling: Pooling
    pad_token: str
    pad_id: int
    input_names: tuple[str, ...]
    output_name: str
    prompts: dict[str, str]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ServingSpec:
        spec = cls(**{**data, "input_names": tuple(data["input_names"]), "prompts": dict(data["prompts"])})
        if spec.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {spec.pooling!r}")
        return spec


class ServingEncoder:
    """An export run by its backend's runtime, tokenised by the tokenizers library (the ``Encoder``
    protocol)."""

    def __init__(
        self, model_file: Path, tokenizer_file: Path, spec: ServingSpec, backend: Backend, id_suffix: str
    ) -> None:
        self.backend = backend
        self.id_suffix = id_suffix
        self.spec = spec
        self.dimension = spec.dimension
        self.max_tokens = spec.max_tokens
        self.path = model_file
        self.session = session(model_file, inference_threads(), backend)
        self._tokenizer = read_tokenizer(tokenizer_file)
        self._tokenizer.enable_truncation(spec.max_tokens)
        self._tokenizer.enable_padding(pad_id=spec.pad_id, pad_token=spec.pad_token)

    def use_threads(self, threads: int) -> None:
        """Run each inference on ``threads`` threads from now on (the runtimes fix them per session)."""
        self.session = session(self.path, threads, self.backend)

    def token_ids(self, texts: list[str], prompt: str) -> list[list[int]]:
        """The model's input ids of ``prompt + text`` (truncated, unpadded), as encoded for inference."""
        return [
            [token for token, mask in zip(encoding.ids, encoding.attention_mask, strict=True) if mask]
            for encoding in self._tokenizer.encode_batch([prompt + text for text in texts])
        ]

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        """``(len(texts), dimension)`` embeddings of ``prompt + text``, in one batch."""
        return self._run(texts, prompt, with_tokens=False)[0]

    def encode_tokens(self, texts: list[str], prompt: str) -> tuple[np.ndarray, list[TokenOutputs] | None]:
        """What ``encode`` returns, and each text's token outputs from the same pass."""
        return self._run(texts, prompt, with_tokens=True)

    def _run(
        self, texts: list[str], prompt: str, *, with_tokens: bool
    ) -> tuple[np.ndarray, list[TokenOutputs] | None]:
        encodings = self._tokenizer.encode_batch([prompt + text for text in texts])
        columns = {
            "input_ids": [encoding.ids for encoding in encodings],
            "attention_mask": [encoding.attention_mask for encoding in encodings],
            "token_type_ids": [encoding.type_ids for encoding in encodings],
        }
        inputs = {name: np.asarray(columns[name], dtype=np.int64) for name in self.spec.input_names}
        hidden = self.session.run(self.spec.output_name, inputs)
        masks = np.asarray(columns["attention_mask"], dtype=bool)
        if self.spec.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            mask = masks[:, :, None].astype(np.float32)
            vectors = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        tokens = None
        if with_tokens:
            tokens = [
                TokenOutputs(
                    hidden[row][mask].astype(np.float32, copy=False),
                    np.asarray(encoding.offsets, dtype=np.int64)[mask] - len(prompt),
                )
                for row, (encoding, mask) in enumerate(zip(encodings, masks, strict=True))
            ]
        return normalized(vectors), tokens

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text, without prompt and special tokens: what the inference tokenizer cuts off at its
        limit comes back as overflowing pieces, so the count is exact past the limit too (a second,
        untruncated tokenizer held ~300 MB more during index builds). Texts are encoded ``COUNT_BATCH`` at a
        time: the tokenizer pads a batch to its longest, so a whole corpus at once would take gigabytes."""
        return [
            sum(sum(piece.attention_mask) for piece in (encoding, *encoding.overflowing))
            for start in range(0, len(texts), COUNT_BATCH)
            for encoding in self._tokenizer.encode_batch(
                texts[start : start + COUNT_BATCH], add_special_tokens=False
            )
        ]


def export_folder(model_cache_dir: Path, model_id: str) -> Path:
    """Where the exports of ``model_id`` live."""
    return model_cache_dir / "onnx" / hashlib.sha256(model_id.encode()).hexdigest()[:16]


def read_export(folder: Path, model_id: str, backend: Backend) -> dict | None:
    """The marker of a complete export of ``model_id`` in ``folder``, or None; ModelLoadError when it is
    complete but its ``backend`` file disagrees with torch (remaking it would not help)."""
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
        complete = (
            marker["format"] == EXPORT_FORMAT
            and marker["model_id"] == model_id
            and all((folder / name).stat().st_size == size for name, size in marker["files"].items())
        )
        cosine = float(marker["min_cosine_to_torch"][backend])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if complete and cosine < MIN_COSINE[backend]:
        raise ModelLoadError(
            f"POLICYQA_BACKEND={backend}: this model's export agrees with torch only to cosine {cosine:.4f} "
            f"(< {MIN_COSINE[backend]}) on the check texts; use POLICYQA_BACKEND=onnx or torch"
        )
    return marker if complete else None


def load_serving_encoder(model_cache_dir: Path, model_id: str, backend: Backend) -> ServingEncoder | None:
    """The export of ``model_id`` on ``backend`` run without torch, or None when there is no complete
    export with a serving spec (the caller then loads the model through sentence-transformers)."""
    folder = export_folder(model_cache_dir, model_id)
    marker = read_export(folder, model_id, backend)
    spec = read_serving_spec(marker) if marker is not None else None
    if spec is None:
        return None
    file_name, id_suffix = MODEL_FILES[backend]
    return ServingEncoder(folder / file_name, folder / TOKENIZER_FILE, spec, backend, id_suffix)


def read_serving_spec(marker: dict) -> ServingSpec | None:
    """The spec an export marker records, or None when the export has none (a model run otherwise)."""
    data = marker.get(SERVING_KEY)
    if not isinstance(data, dict):
        return None
    try:
        return ServingSpec.from_json(data)
    except (TypeError, ValueError, KeyError):
        return None


def read_tokenizer(path: Path) -> Tokenizer:
    """The tokenizer saved at ``path``; ModelLoadError when it cannot be read (it is removed: the next load
    remakes the export)."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # a damaged file, whatever the parser says
        path.unlink(missing_ok=True)
        raise ModelLoadError(f"unreadable tokenizer {path} ({error}); it is removed, start again") from None


class Session(Protocol):
    """A graph loaded by one runtime: its input names, and one inference returning the named output (safe
    to call from several threads at once)."""

    input_names: tuple[str, ...]

    def run(self, output_name: str, inputs: dict[str, np.ndarray]) -> np.ndarray: ...


class OnnxRuntimeSession:
    """ONNX Runtime's CPU session (``POLICYQA_BACKEND=onnx`` and ``onnx-int8``)."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # a damaged file: the next load remakes it
            path.unlink(missing_ok=True)
            message = f"unreadable ONNX export {path} ({error}); it is removed, start again"
            raise ModelLoadError(message) from None
        self.input_names = tuple(node.name for node in self._session.get_inputs())

    def run(self, output_name: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
        (output,) = self._session.run([output_name], inputs)
        return output


def session(path: Path, threads: int, backend: Backend) -> Session:
    """``backend``'s runtime on the graph at ``path``, ``threads`` per inference (the server sets one: its
    parallelism comes from concurrent requests); ModelLoadError when the file cannot be read (it is removed:
    the next load remakes it)."""
    return RUNTIMES.resolve(backend)(path, threads)
