"""The ONNX Runtime backends (``POLICYQA_BACKEND=onnx`` and ``onnx-int8``) for any configured model.

sentence-transformers' own ONNX backend needs ``optimum-onnx``, whose every release pins transformers < 4.58
while sentence-transformers 6 needs transformers 5, so the same two steps it wraps are called directly: the
model's transformer module is exported with PyTorch's own exporter (``torch.onnx.export``) and, for int8,
quantised with ONNX Runtime's own ``quantize_dynamic`` (docs/decisions/2026-12-01-onnx-backend.md).
Tokenisation, prompts, pooling and normalisation stay sentence-transformers' modules, so whatever model is
configured (the default with its adapter merged, or a user's model) encodes exactly as under torch.

An export is made once per model id into ``HOME/models/onnx/`` (a temporary folder moved into place), is
accepted only when it agrees with torch on ``CHECK_TEXTS`` (cosine ≥ 0.9999 per text for fp32, ≥ 0.99 for
int8), and a marker records the model id, files and agreement; later loads only read the marker.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from policyqa.indexer.e5_model import VERIFICATION_TEXTS
from policyqa.indexer.encoders import INT8_SUFFIX, Backend
from policyqa.indexer.errors import ModelLoadError

if TYPE_CHECKING:
    import onnxruntime
    from sentence_transformers import SentenceTransformer

    from policyqa.indexer.settings import IndexSettings

logger = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # bump when what is written here changes; older exports are remade
MARKER_NAME = "policyqa-onnx.json"
FP32_FILE, INT8_FILE = "model.onnx", "model-int8.onnx"
MIN_COSINE = {"onnx": 0.9999, "onnx-int8": 0.99}
OPSET = 17
# A fixed Chinese set each export must reproduce: questions, clauses, traditional characters, full- and
# half-width punctuation, numbers and 文号, a long passage (truncated at the model's limit).
CHECK_TEXTS = (
    *VERIFICATION_TEXTS,
    "query: 有限责任公司股东认缴的出资额应当在几年内缴足？",
    "query: 高新區企業申請研發費用加計扣除需要哪些材料？",
    "passage: 第一百二十三条　违反本法第十二条规定的，由县级以上人民政府市场监督管理部门责令改正，"
    "处一万元以上十万元以下的罚款。",
    "passage: （十二）发展创新型孵化器。支持高新区建设专业化众创空间，对认定为国家级孵化器的给予100万元奖励。"
    "（苏政发〔2018〕12号）",
    "passage: 各设区市人民政府，省各委办厅局，省各直属单位："
    + "现将《关于推进高新区一区一战略产业的意见》印发给你们，请认真贯彻执行。" * 20,
)


class OnnxEncoder:
    """The model's transformer on ONNX Runtime (fp32), its other modules as in sentence-transformers."""

    backend: Backend = "onnx"
    id_suffix = ""  # agrees with torch to fp32 precision (checked at export)
    file_name = FP32_FILE

    def __init__(self, model: SentenceTransformer, path: Path) -> None:
        self.model = model
        self.path = path
        self.session = _session(path, torch.get_num_threads())
        self.input_names = [node.name for node in self.session.get_inputs()]
        self.output_name = model[0].module_output_name

    @classmethod
    def load(cls, model: SentenceTransformer, model_id: str, settings: IndexSettings) -> OnnxEncoder:
        """The encoder of ``model``, exported (once) into ``settings.model_cache_dir``; ModelLoadError when
        the model cannot be exported or its export disagrees with torch."""
        folder = export_folder(settings.model_cache_dir, model_id)
        with _export_lock(folder):
            if not _usable_export(folder, model_id, cls.backend):
                export_model(model, model_id, folder)
        return cls(model, folder / cls.file_name)

    def use_threads(self, threads: int) -> None:
        """Run each inference on ``threads`` threads from now on (ONNX Runtime fixes them per session)."""
        self.session = _session(self.path, threads)

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        """``(len(texts), dimension)`` embeddings of ``prompt + text``, in one batch."""
        features = self.model.preprocess(texts, prompt=prompt or None)
        inputs = {name: features[name].numpy() for name in self.input_names}
        (hidden,) = self.session.run([self.output_name], inputs)
        features[self.output_name] = torch.from_numpy(hidden)
        with torch.inference_mode():
            for module in list(self.model)[1:]:
                features = module(features)
        vectors = features["sentence_embedding"].numpy().astype(np.float32, copy=False)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class Int8OnnxEncoder(OnnxEncoder):
    """The export with int8 weights in its square (attention) matrix products; not interchangeable with
    torch's vectors, so its model id carries ``+int8``."""

    backend: Backend = "onnx-int8"
    id_suffix = INT8_SUFFIX
    file_name = INT8_FILE


def export_folder(model_cache_dir: Path, model_id: str) -> Path:
    """Where the exports of ``model_id`` live."""
    return model_cache_dir / "onnx" / hashlib.sha256(model_id.encode()).hexdigest()[:16]


def export_model(model: SentenceTransformer, model_id: str, folder: Path) -> None:
    """Export ``model``'s transformer to ``folder`` (fp32 and int8), check both against torch, and move
    them into place atomically with their marker; ModelLoadError when an export disagrees."""
    started = time.perf_counter()
    print("policyqa: exporting the embedding model to ONNX (once, about a minute)…", file=sys.stderr)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=folder.parent) as temporary:
        work = Path(temporary)
        _export_fp32(model, work / FP32_FILE)
        _quantize_int8(work / FP32_FILE, work / INT8_FILE)
        expected = _torch_vectors(model)
        agreement = {}
        for backend, name in (("onnx", FP32_FILE), ("onnx-int8", INT8_FILE)):
            found = OnnxEncoder(model, work / name).encode(list(CHECK_TEXTS), "")
            agreement[backend] = round(float(np.min(np.sum(found * expected, axis=1))), 6)
        marker = {
            "format": EXPORT_FORMAT,
            "model_id": model_id,
            "files": {name: (work / name).stat().st_size for name in (FP32_FILE, INT8_FILE)},
            "min_cosine_to_torch": agreement,
            "torch": torch.__version__,
            "onnxruntime": _onnxruntime_version(),
            "seconds": round(time.perf_counter() - started, 1),
        }
        (work / MARKER_NAME).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
    logger.info("model exported to ONNX", extra={"model": model_id, "agreement": agreement})


def _usable_export(folder: Path, model_id: str, backend: Backend) -> bool:
    """Whether ``folder`` holds a complete export of ``model_id`` whose ``backend`` file agrees with torch;
    ModelLoadError when it is complete and disagrees (remaking it would not help)."""
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
        complete = (
            marker["format"] == EXPORT_FORMAT
            and marker["model_id"] == model_id
            and all((folder / name).stat().st_size == size for name, size in marker["files"].items())
        )
        cosine = float(marker["min_cosine_to_torch"][backend])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if complete and cosine < MIN_COSINE[backend]:
        raise ModelLoadError(
            f"POLICYQA_BACKEND={backend}: this model's export agrees with torch only to cosine {cosine:.4f} "
            f"(< {MIN_COSINE[backend]}) on the check texts; use POLICYQA_BACKEND=onnx or torch"
        )
    return complete


@contextlib.contextmanager
def _export_lock(folder: Path) -> Iterator[None]:
    """One exporter at a time per model (two servers starting together wait for the first)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _TransformerGraph(torch.nn.Module):
    """The transformer module as a function of its input tensors (what the exporter traces)."""

    def __init__(self, model: SentenceTransformer, input_names: list[str]) -> None:
        super().__init__()
        self.transformer = model[0]
        self.input_names = input_names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        features = dict(zip(self.input_names, tensors, strict=True))
        return self.transformer(features)[self.transformer.module_output_name]


def _export_fp32(model: SentenceTransformer, path: Path) -> None:
    sample = model.preprocess(["示例文本", "passage: 第一条　为了规范管理，制定本办法。"])
    names = [name for name, value in sample.items() if isinstance(value, torch.Tensor) and value.ndim == 2]
    output = model[0].module_output_name
    dynamic = {name: {0: "batch", 1: "tokens"} for name in [*names, output]}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's warnings on Python control flow: not the user's
            torch.onnx.export(
                _TransformerGraph(model, names).eval(),
                tuple(sample[name] for name in names),
                str(path),
                input_names=names,
                output_names=[output],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as error:  # any exporter failure is the same user-facing problem
        raise ModelLoadError(
            f"the model cannot be exported to ONNX ({type(error).__name__}: {error}); "
            "use POLICYQA_BACKEND=torch"
        ) from None


def _quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation (per-channel int8 weights, uint8 activations, the settings of
    sentence-transformers' ``avx512_vnni`` preset) of the square matrix products only: quantising the
    feed-forward ones too takes the default model to cosine 0.96 of torch on passages."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source)).graph
    square = {
        initializer.name
        for initializer in graph.initializer
        if len(initializer.dims) == 2 and initializer.dims[0] == initializer.dims[1]
    }
    excluded = [node.name for node in graph.node if node.op_type == "MatMul" and not set(node.input) & square]
    logging.disable(logging.WARNING)  # the quantiser's advice on the root logger is not the user's concern
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=excluded,
        )
    finally:
        logging.disable(logging.NOTSET)


def _torch_vectors(model: SentenceTransformer) -> np.ndarray:
    vectors = model.encode(
        list(CHECK_TEXTS), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def _session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session with ``threads`` per inference (the encoder starts with torch's count, which
    the server sets to POLICYQA_TORCH_THREADS: its parallelism comes from concurrent requests)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # a damaged file: the next load remakes it
        path.unlink(missing_ok=True)
        raise ModelLoadError(f"unreadable ONNX export {path} ({error}); it is removed, start again") from None


def _onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
