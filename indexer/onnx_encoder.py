"""The ONNX backends (``POLICYQA_BACKEND=onnx``, ``onnx-int8`` and ``openvino``) for any configured model.

sentence-transformers' own ONNX backend needs ``optimum-onnx``, whose every release pins transformers < 4.58
while sentence-transformers 6 needs transformers 5, so the same two steps it wraps are called directly: the
model's transformer module is exported with PyTorch's own exporter (``torch.onnx.export``) and, for int8,
quantised with ONNX Runtime's own ``quantize_dynamic`` (docs/decisions/2026-12-01-onnx-backend.md).
Tokenisation, prompts, pooling and normalisation stay sentence-transformers' modules, so whatever model is
configured (the default with its adapter merged, or a user's model) encodes exactly as under torch.

An export is made once per model id into ``HOME/models/onnx/`` (a temporary folder moved into place), is
accepted only when it agrees with torch on ``CHECK_TEXTS`` (cosine ≥ 0.9999 per text for fp32, ≥ 0.99 for
int8), and a marker records the model id, files and agreement; later loads only read the marker. When the
model's pipeline allows, the export also holds what ``indexer/onnx_serving.py`` needs to run it without
torch (checked on the same texts), which later loads use instead of this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
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
from policyqa.indexer.encoders import (
    ENCODERS,
    Backend,
    TokenOutputs,
    count_model_tokens,
    inference_threads,
    normalized,
    token_outputs,
)
from policyqa.indexer.errors import ModelLoadError
from policyqa.indexer.onnx_serving import (
    EXPORT_FORMAT,
    FP32_FILE,
    INT8_FILE,
    MARKER_NAME,
    MIN_COSINE,
    MODEL_FILES,
    SERVING_KEY,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    ServingEncoder,
    ServingSpec,
    export_folder,
    read_export,
    session,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from policyqa.indexer.settings import IndexSettings

logger = logging.getLogger(__name__)

OPSET = 17
FUSED_MIN_COSINE = 0.99999  # the fused fp32 export against the unfused one, per check text
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

    def __init__(self, model: SentenceTransformer, path: Path) -> None:
        self.model = model
        self.id_suffix = MODEL_FILES[self.backend][1]  # "": agrees with torch to fp32 precision
        self.dimension: int = model.get_embedding_dimension()
        self.max_tokens: int = model.max_seq_length
        self.path = path
        self.session = session(path, inference_threads(), self.backend)
        self.input_names = self.session.input_names
        self.output_name = model[0].module_output_name

    @classmethod
    def load(cls, model: SentenceTransformer, model_id: str, settings: IndexSettings) -> OnnxEncoder:
        """The encoder of ``model``, exported (once) into ``settings.model_cache_dir``; ModelLoadError when
        the model cannot be exported or its export disagrees with torch."""
        folder = export_folder(settings.model_cache_dir, model_id)
        with _export_lock(folder):
            if read_export(folder, model_id, cls.backend) is None:
                export_model(model, model_id, folder)
        return cls(model, folder / MODEL_FILES[cls.backend][0])

    def use_threads(self, threads: int) -> None:
        """Run each inference on ``threads`` threads from now on (the runtimes fix them per session)."""
        self.session = session(self.path, threads, self.backend)

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        """``(len(texts), dimension)`` embeddings of ``prompt + text``, in one batch."""
        features = self.model.preprocess(texts, prompt=prompt or None)
        return self._pooled(features, self._run(features))

    def encode_tokens(self, texts: list[str], prompt: str) -> tuple[np.ndarray, list[TokenOutputs] | None]:
        """What ``encode`` returns, and each text's token outputs from the same pass."""
        features = self.model.preprocess(texts, prompt=prompt or None)
        hidden = self._run(features)
        return self._pooled(features, hidden), token_outputs(self.model, texts, prompt, features, hidden)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text, without prompt and special tokens."""
        return count_model_tokens(self.model, texts)

    def _run(self, features: dict) -> np.ndarray:
        inputs = {name: features[name].numpy() for name in self.input_names}
        return self.session.run(self.output_name, inputs)

    def _pooled(self, features: dict, hidden: np.ndarray) -> np.ndarray:
        """The model's modules after the transformer (pooling, ...) over ``hidden``, L2-normalised."""
        features[self.output_name] = torch.from_numpy(hidden)
        with torch.inference_mode():
            for module in list(self.model)[1:]:
                features = module(features)
        return normalized(features["sentence_embedding"].numpy())


class Int8OnnxEncoder(OnnxEncoder):
    """The export with int8 weights in its matrix products but the feed-forward output; not interchangeable
    with torch's vectors, so its model id carries ``+int8``."""

    backend: Backend = "onnx-int8"


class OpenVinoEncoder(OnnxEncoder):
    """The fp32 export compiled by OpenVINO (bf16 where the CPU computes it natively,
    ``indexer/openvino_session.py``); interchangeable with torch's vectors."""

    backend: Backend = "openvino"


def export_model(model: SentenceTransformer, model_id: str, folder: Path) -> None:
    """Export ``model``'s transformer to ``folder`` (fp32 and int8), check each backend's run of it against
    torch, and move them into place atomically with their marker (a backend that disagrees or cannot run it is
    refused when chosen, naming the fix)."""
    started = time.perf_counter()
    print("policyqa: exporting the embedding model to ONNX (once, about a minute)…", file=sys.stderr)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=folder.parent) as temporary:
        work = Path(temporary)
        _export_fp32(model, work / FP32_FILE)
        _quantize_int8(work / FP32_FILE, work / INT8_FILE)
        _fuse_attention(model, work / FP32_FILE)
        for name in (FP32_FILE, INT8_FILE):
            _move_weights_out(work / name)
        expected = _torch_vectors(model)
        agreement = _agreement(model, work, expected)
        spec = _checked_serving_spec(model, work, expected, agreement)
        marker = {
            "format": EXPORT_FORMAT,
            "model_id": model_id,
            "files": {path.name: path.stat().st_size for path in sorted(work.iterdir())},
            "min_cosine_to_torch": agreement,
            SERVING_KEY: spec.to_json() if spec is not None else None,
            "torch": torch.__version__,
            "onnxruntime": _version("onnxruntime"),
            "openvino": _version("openvino"),
            "seconds": round(time.perf_counter() - started, 1),
        }
        (work / MARKER_NAME).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
    logger.info("model exported to ONNX", extra={"model": model_id, "agreement": agreement})


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


def _fuse_attention(model: SentenceTransformer, path: Path) -> None:
    """Replace the fp32 export at ``path`` with one whose attention, layer norms and GELUs are fused, when
    ONNX Runtime's transformer optimiser can fuse every layer of it and the result agrees with it.

    The optimiser recognises attention only in the graph the model's eager attention traces to (the default
    SDPA export fuses nothing), so the transformer is exported again with eager attention and optimised as
    a BERT-family encoder: on the default model 12 attention blocks, 24 skip layer norms and 12 bias GELUs,
    passages embedded 1.11-1.14x as fast, vectors equal to the unfused export's to float rounding. The int8
    export stays quantised from the unfused graph. A model the optimiser does not fully fuse (another
    architecture) keeps the unfused export."""
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    transformer = model[0].auto_model
    config = transformer.config
    layers, heads, hidden = (
        getattr(config, name, None) for name in ("num_hidden_layers", "num_attention_heads", "hidden_size")
    )
    if not all(isinstance(value, int) for value in (layers, heads, hidden)):
        return
    eager, fused = path.with_name("eager.onnx"), path.with_name("fused.onnx")
    attention = config._attn_implementation
    try:
        transformer.set_attn_implementation("eager")
        try:
            _export_fp32(model, eager)
        finally:
            transformer.set_attn_implementation(attention)
        with _root_warnings_muted():  # the optimiser's progress lines
            optimized = optimize_model(
                str(eager), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
            )
        fused_layers = optimized.get_fused_operator_statistics().get("Attention", 0)
        agreement = 0.0
        if fused_layers == layers:
            onnx.save_model(optimized.model, str(fused))
            texts = list(CHECK_TEXTS)
            plain = OnnxEncoder(model, path).encode(texts, "")
            agreement = _least_cosine(OnnxEncoder(model, fused).encode(texts, ""), plain)
        if agreement >= FUSED_MIN_COSINE:
            fused.replace(path)
        else:
            logger.info(
                "attention not fused in the ONNX export",
                extra={"fused_layers": fused_layers, "layers": layers, "agreement": agreement},
            )
    except Exception as error:  # whatever the exporter or optimiser fails on, the plain export stays
        logger.info(
            "attention not fused in the ONNX export", extra={"reason": f"{type(error).__name__}: {error}"}
        )
    finally:
        eager.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)


def _quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation (per-channel int8 weights, uint8 activations, the settings of
    sentence-transformers' ``avx512_vnni`` preset) of every matrix product but those that narrow their input
    (the feed-forward output): its input, after GELU, carries outliers that per-tensor uint8 activations clip
    (quantised too, the default model drops to cosine 0.96 of torch on passages; left fp32, 0.995 on the
    check texts, and a query embeds in 12 instead of 18 ms)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source)).graph
    narrowing = {
        initializer.name
        for initializer in graph.initializer
        if len(initializer.dims) == 2 and initializer.dims[0] > initializer.dims[1]
    }
    excluded = [node.name for node in graph.node if node.op_type == "MatMul" and set(node.input) & narrowing]
    with _root_warnings_muted():  # the quantiser's advice is not the user's concern
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=excluded,
        )


@contextlib.contextmanager
def _root_warnings_muted() -> Iterator[None]:
    """ONNX Runtime's export tools log advice and progress on the root logger: silenced while they run."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _move_weights_out(path: Path) -> None:
    """Rewrite the model at ``path`` with its weights in ``<name>.data`` beside it (ONNX's external data),
    which ONNX Runtime memory-maps instead of copying out of the parsed file: the default model's session
    loads in 0.13 instead of 0.88 s with 148 instead of 528 MB resident (the 250k-row token embedding table
    is paged in only where a text's tokens touch it), and worker processes share the mapped pages."""
    import onnx

    model = onnx.load(str(path))
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=WEIGHTS_FILE.format(model=path.name),
        size_threshold=1024,
    )


def _least_cosine(found: np.ndarray, expected: np.ndarray) -> float:
    """The lowest cosine between two sets of normalised vectors, row by row."""
    return float(np.min(np.sum(found * expected, axis=1)))


def _torch_vectors(model: SentenceTransformer) -> np.ndarray:
    vectors = model.encode(
        list(CHECK_TEXTS), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def _agreement(model: SentenceTransformer, work: Path, expected: np.ndarray) -> dict[str, float]:
    """Each backend's least cosine to torch's vectors ``expected`` on ``CHECK_TEXTS``, running the export in
    ``work``; 0.0 for a backend whose runtime cannot run it (OpenVINO on a graph it does not support), so that
    choosing it is refused with the fix named while the other backends serve."""
    agreement = {}
    for backend, (name, _) in MODEL_FILES.items():
        try:
            found = ENCODERS.resolve(backend)(model, work / name).encode(list(CHECK_TEXTS), "")
        except ModelLoadError as error:
            logger.warning("export not runnable here", extra={"backend": backend, "why": str(error)})
            agreement[backend] = 0.0
            continue
        agreement[backend] = round(_least_cosine(found, expected), 6)
    return agreement


def _checked_serving_spec(
    model: SentenceTransformer, work: Path, expected: np.ndarray, agreement: dict[str, float]
) -> ServingSpec | None:
    """The spec to run the export in ``work`` without torch (its tokenizer saved there), or None when the
    model's pipeline is not one ``ServingEncoder`` runs or it does not reproduce sentence-transformers'
    token ids and, within each backend's bound, torch's vectors ``expected`` on ``CHECK_TEXTS`` (backends
    whose ``agreement`` is below their bound are left out: they are refused whatever runs them)."""
    spec = _serving_spec(model, work / FP32_FILE)
    if spec is None:
        return None
    model.tokenizer.backend_tokenizer.save(str(work / TOKENIZER_FILE))
    texts = list(CHECK_TEXTS)
    features = model.preprocess(texts)
    wanted = [
        ids[mask.bool()].tolist()
        for ids, mask in zip(features["input_ids"], features["attention_mask"], strict=True)
    ]
    for backend, (name, id_suffix) in MODEL_FILES.items():
        if agreement[backend] < MIN_COSINE[backend]:
            continue
        encoder = ServingEncoder(work / name, work / TOKENIZER_FILE, spec, backend, id_suffix)
        cosine = _least_cosine(encoder.encode(texts, ""), expected)
        if encoder.token_ids(texts, "") != wanted or cosine < MIN_COSINE[backend]:
            logger.info(
                "export kept for sentence-transformers only: run alone it differs",
                extra={"backend": backend, "cosine": cosine},
            )
            (work / TOKENIZER_FILE).unlink()
            return None
    return spec


def _serving_spec(model: SentenceTransformer, fp32_file: Path) -> ServingSpec | None:
    """What ``ServingEncoder`` needs for ``model``, or None when its pipeline is another than transformer →
    mean or CLS pooling (over the prompt too) → optional normalisation, or its tokenizer is not a fast one."""
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    modules = list(model)
    if len(modules) not in (2, 3) or not isinstance(modules[1], Pooling):
        return None
    if len(modules) == 3 and not isinstance(modules[2], Normalize):
        return None
    pooling = modules[1]
    tokenizer = model.tokenizer
    if pooling.pooling_mode not in ("mean", "cls") or not pooling.include_prompt:
        return None
    if getattr(tokenizer, "backend_tokenizer", None) is None or tokenizer.pad_token is None:
        return None
    return ServingSpec(
        dimension=model.get_embedding_dimension(),
        max_tokens=model.max_seq_length,
        pooling=pooling.pooling_mode,
        pad_token=str(tokenizer.pad_token),
        pad_id=int(tokenizer.pad_token_id),
        input_names=session(fp32_file, 1, "onnx").input_names,
        output_name=modules[0].module_output_name,
        prompts=dict(model.prompts or {}),
    )


def _version(package: str) -> str:
    return importlib.metadata.version(package)
