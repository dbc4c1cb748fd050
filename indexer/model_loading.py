"""Load the configured sentence-transformers model strictly offline, with its identity and prompts.

``settings.model == "default"`` materialises (once) and loads the built-in multilingual-e5-small
(:mod:`policyqa.indexer.e5_model`);
a local folder is loaded as is; anything else is a Hugging Face hub name that
must already be in the local cache. Nothing here ever touches the network.

``settings.adapter`` names a LoRA adapter folder written by ``policyqa train embedder``; ``stard`` is the one
shipped in ``resources/adapter`` (trained on STARD's train split for the default model, see docs/training.md)
and ``none`` the bare model. An adapter folder holds the peft adapter files plus ``policyqa-adapter.json``
(the base model it was trained on and a fingerprint). It is merged into the base model's weights (inference
costs nothing extra) after checking that the base is the one it was trained on and that the merged model
reproduces the fingerprint; the model id becomes ``{base id}+lora@{adapter digest}``, so an index records base
and adapter, and one built with another (or none) is a clear mismatch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from policyqa.indexer.e5_model import VERIFICATION_TEXTS, default_model_source, ensure_default_model
from policyqa.indexer.errors import ModelLoadError
from policyqa.indexer.offline_model import OFFLINE_HINT, forbid_hub_network, no_progress_bars, open_offline
from policyqa.indexer.settings import (
    DEFAULT_ADAPTER,
    DEFAULT_MODEL,
    NO_ADAPTER,
    SHIPPED_ADAPTER_NAME,
    IndexSettings,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

SHIPPED_ADAPTER = Path(__file__).parent / "resources" / "adapter"
ADAPTER_MARKER = "policyqa-adapter.json"
MERGED_MARKER = "policyqa-merged.json"  # a merged default model saved under HOME/models/merged/
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")  # what peft writes and reads
FINGERPRINT_DECIMALS = 6
FINGERPRINT_MIN_COSINE = 0.9999


@dataclass(frozen=True)
class LoadedModel:
    """A ready model, the identity stored with its embeddings, and the prompts in force."""

    model: SentenceTransformer
    model_id: str
    query_prompt: str
    passage_prompt: str


def load_model(settings: IndexSettings) -> LoadedModel:
    """The model named by ``settings.model``; raises ModelLoadError if it cannot be loaded offline."""
    started = time.perf_counter()
    adapter = adapter_folder(settings)
    if settings.model == DEFAULT_MODEL:
        model, model_id = _load_default(settings.model_cache_dir, adapter)
    else:
        model, model_id = _load_named(settings.model)
        if adapter is not None:
            model_id = apply_adapter(model, model_id, adapter)
    query_prompt, passage_prompt = prompts_in_force(settings, model.prompts or {})
    logger.info("model loaded", extra={"model": model_id, "seconds": round(time.perf_counter() - started, 2)})
    return LoadedModel(model, model_id, query_prompt, passage_prompt)


def prompts_in_force(settings: IndexSettings, model_prompts: Mapping[str, str]) -> tuple[str, str]:
    """The query and passage prompts: POLICYQA_QUERY_PROMPT / POLICYQA_PASSAGE_PROMPT when set, else the
    model's own (``query``; ``document`` or ``passage``)."""
    query = settings.query_prompt if settings.query_prompt is not None else model_prompts.get("query", "")
    passage = (
        settings.passage_prompt
        if settings.passage_prompt is not None
        else model_prompts.get("document", model_prompts.get("passage", ""))
    )
    return query, passage


def known_model_id(settings: IndexSettings) -> str | None:
    """The id :func:`load_model` gives the configured model, read from files alone (nothing loaded, nothing
    checked: for finding what was made from that model, e.g. its ONNX export); None when only a load can
    tell (an adapter not merged yet into the default model, a hub model not in the local cache)."""
    adapter = adapter_folder(settings)
    if settings.model == DEFAULT_MODEL:
        source = default_model_source()
        if adapter is None:
            return source.model_id
        return _saved_merge(merged_folder(settings.model_cache_dir, source.model_id, adapter))
    base_id = _named_model_id(settings.model)
    if base_id is None or adapter is None:
        return base_id
    return adapted_model_id(base_id, adapter)


def adapter_folder(settings: IndexSettings) -> Path | None:
    """The adapter folder ``settings.adapter`` names, or None for the bare model; ``default`` is the shipped
    adapter on the default model and none on any other."""
    if settings.adapter == DEFAULT_ADAPTER:
        return SHIPPED_ADAPTER if settings.model == DEFAULT_MODEL else None
    if settings.adapter == NO_ADAPTER:
        return None
    if settings.adapter == SHIPPED_ADAPTER_NAME:
        return SHIPPED_ADAPTER
    return Path(settings.adapter).expanduser()


def _load_default(cache_dir: Path, adapter: Path | None) -> tuple[SentenceTransformer, str]:
    """The default model, with ``adapter`` merged: from its cached merged folder when one was saved for
    this base and these adapter files (no merge, no fingerprint check), else merged now and saved."""
    source = default_model_source()
    merged = None if adapter is None else merged_folder(cache_dir, source.model_id, adapter)
    if merged is not None and (model_id := _saved_merge(merged)) is not None:
        try:
            return open_offline(str(merged)), model_id
        except ModelLoadError as exc:
            logger.warning("cached merged model unusable (%s); merging again", exc)
    folder = ensure_default_model(cache_dir, source)
    try:
        model = open_offline(str(folder))
    except ModelLoadError as exc:
        logger.warning("materialised default model unusable (%s); rebuilding it", exc)
        folder = ensure_default_model(cache_dir, source, rebuild=True)
        model = open_offline(str(folder))
    if adapter is None or merged is None:  # (both or neither)
        return model, source.model_id
    model_id = apply_adapter(model, source.model_id, adapter)
    save_merged(model, model_id, adapter, merged, base=folder)
    return model, model_id


def merged_folder(cache_dir: Path, base_id: str, adapter: Path) -> Path:
    """Where the merge of ``adapter`` into the base ``base_id`` is cached: named by both identities (the
    adapter's weights and its marker, whose fingerprint vouches for the merge); ModelLoadError when
    ``adapter`` is not a complete adapter folder."""
    adapter = Path(adapter).expanduser()
    read_adapter_marker(adapter)
    adapter_files = files_digest(adapter, (*ADAPTER_FILES, ADAPTER_MARKER))
    return cache_dir / "merged" / hashlib.sha256(f"{base_id}\0{adapter_files}".encode()).hexdigest()[:16]


def _saved_merge(folder: Path) -> str | None:
    """The model id of a complete merged folder written by :func:`save_merged`, or None."""
    try:
        marker = json.loads((folder / MERGED_MARKER).read_text(encoding="utf-8"))
        complete = all((folder / name).stat().st_size == size for name, size in marker["files"].items())
        return str(marker["model_id"]) if complete else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_merged(
    model: SentenceTransformer, model_id: str, adapter: Path, folder: Path, *, base: Path
) -> None:
    """Save the merged ``model`` as a plain sentence-transformers folder (with the loading settings of the
    ``base`` folder that saving drops: sequence length, no pooler), checked like the merge itself
    (reloaded, it reproduces the adapter's fingerprint), then moved into place; a cache that cannot be
    written (read-only HOME) is skipped with a warning: the next start merges again."""
    expected = _recorded_fingerprint(adapter, read_adapter_marker(adapter))
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{folder.name}.", dir=folder.parent) as temp:
            staged = Path(temp) / "model"
            with no_progress_bars():
                model.save(str(staged))
            config = staged / "sentence_bert_config.json"
            saved = json.loads(config.read_text(encoding="utf-8"))
            base_config = json.loads((base / config.name).read_text(encoding="utf-8"))
            config.write_text(json.dumps(base_config | saved, indent=2) + "\n", encoding="utf-8")
            _check_fingerprint(adapter, adapter_fingerprint(open_offline(str(staged))), expected)
            files = {
                path.relative_to(staged).as_posix(): path.stat().st_size
                for path in sorted(staged.rglob("*"))
                if path.is_file()
            }
            marker = {"model_id": model_id, "files": files}
            (staged / MERGED_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            if folder.exists():  # an unusable leftover, or a concurrent start that saved it first
                shutil.rmtree(folder, ignore_errors=True)
            os.replace(staged, folder)
    except (OSError, ModelLoadError) as error:
        logger.warning("merged model not cached (%s); the next start merges the adapter again", error)


def _load_named(name: str) -> tuple[SentenceTransformer, str]:
    model_id = _named_model_id(name)
    if model_id is None:
        raise ModelLoadError(
            f"model {name!r} is not available offline: no such folder, and not in the local "
            f"Hugging Face cache; {OFFLINE_HINT}"
        )
    path = Path(name).expanduser()
    return open_offline(str(path) if path.is_dir() else name), model_id


def _named_model_id(name: str) -> str | None:
    """A local folder's id (its name and a digest of its files) or a cached hub model's (name and commit);
    None when ``name`` is neither."""
    path = Path(name).expanduser()
    if path.is_dir():
        return f"local:{path.resolve().name}@{_folder_fingerprint(path)}"
    revision = _cached_hub_revision(name)
    return None if revision is None else f"{name}@{revision}"


def _cached_hub_revision(name: str) -> str | None:
    """The commit of ``name``'s snapshot in the local Hugging Face cache, or None if not cached."""
    forbid_hub_network()
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        config = try_to_load_from_cache(name, "config.json")
    except HFValidationError:
        return None
    return Path(config).parent.name if isinstance(config, str) else None


def _folder_fingerprint(folder: Path) -> str:
    """A digest of every file's relative path, size and modification time: it changes when any file is
    rewritten (a content hash of a large model would cost seconds on every start)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def apply_adapter(model: SentenceTransformer, base_id: str, folder: Path) -> str:
    """Merge the adapter in ``folder`` into ``model`` (the base ``base_id``); returns the adapted model's
    id. ModelLoadError with a one-line reason when the folder is not a usable adapter of this base."""
    folder = Path(folder).expanduser()
    model_id = adapted_model_id(base_id, folder)
    expected = _recorded_fingerprint(folder, read_adapter_marker(folder))
    merge_adapter(model, folder)
    _check_fingerprint(folder, adapter_fingerprint(model), expected)
    return model_id


def adapted_model_id(base_id: str, folder: Path) -> str:
    """The id of the base ``base_id`` with the adapter in ``folder``; ModelLoadError when the folder is not
    a complete adapter of that base."""
    folder = Path(folder).expanduser()
    marker = read_adapter_marker(folder)
    if marker.get("base_model") != base_id:
        raise ModelLoadError(
            f"adapter {folder} was trained on model {marker.get('base_model')}; the configured model is "
            f"{base_id} (set POLICYQA_MODEL to the adapter's base, or unset POLICYQA_ADAPTER)"
        )
    return f"{base_id}+lora@{adapter_digest(folder)[:12]}"


def _check_fingerprint(folder: Path, found: np.ndarray, expected: np.ndarray) -> None:
    """ModelLoadError unless the merged model's fingerprint ``found`` is the adapter's recorded one."""
    if found.shape != expected.shape:
        raise ModelLoadError(
            f"adapter {folder}: fingerprint of dimension {expected.shape[1]}, model's {found.shape[1]}"
        )
    cosines = np.sum(found * expected, axis=1) / (
        np.linalg.norm(found, axis=1) * np.linalg.norm(expected, axis=1) + 1e-12
    )
    if float(cosines.min()) < FINGERPRINT_MIN_COSINE:
        raise ModelLoadError(
            f"adapter {folder} does not reproduce its fingerprint (cosine {float(cosines.min()):.6f} < "
            f"{FINGERPRINT_MIN_COSINE}): its files were changed or do not belong together"
        )


def read_adapter_marker(folder: Path) -> dict:
    """``policyqa-adapter.json`` of an adapter folder; ModelLoadError when the folder is incomplete."""
    return read_folder_marker(
        folder, kind="adapter", setting="POLICYQA_ADAPTER", files=ADAPTER_FILES, marker=ADAPTER_MARKER
    )


def read_folder_marker(folder: Path, *, kind: str, setting: str, files: Sequence[str], marker: str) -> dict:
    """The JSON object in ``folder / marker`` of a trained-weights folder (an adapter, a re-ranker) that must
    also hold ``files``; a one-line ModelLoadError naming the ``kind`` and its ``setting`` otherwise."""
    if not folder.is_dir():
        raise ModelLoadError(f"{kind} {folder}: no such folder ({setting})")
    missing = [name for name in (*files, marker) if not (folder / name).is_file()]
    if missing:
        listed = ", ".join(missing)
        raise ModelLoadError(f"{kind} {folder}: missing {listed}; not a policyqa {kind} folder")
    try:
        data = json.loads((folder / marker).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{kind} {folder}: unreadable {marker} ({error})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{kind} {folder}: {marker} is not a JSON object")
    return data


def _recorded_fingerprint(folder: Path, marker: dict) -> np.ndarray:
    try:
        vectors = np.asarray(marker["fingerprint"]["vectors"], dtype=np.float32)
    except (KeyError, TypeError, ValueError):
        vectors = None
    if vectors is None or vectors.ndim != 2 or len(vectors) != len(VERIFICATION_TEXTS):
        raise ModelLoadError(f"adapter {folder}: {ADAPTER_MARKER} holds no valid fingerprint")
    return vectors


def merge_adapter(model: SentenceTransformer, folder: Path) -> None:
    """Load the peft adapter in ``folder`` onto ``model``'s transformer and merge it into its weights."""
    from peft import PeftModel

    transformer = model[0]
    try:
        with warnings.catch_warnings():  # peft calls a deprecated transformers method: not the user's concern
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
            adapted = PeftModel.from_pretrained(transformer.model, str(folder), is_trainable=False)
        transformer.model = adapted.merge_and_unload()
    except Exception as error:  # any failure to read or apply the files is the same user-facing problem
        raise ModelLoadError(f"adapter {folder} cannot be applied: {type(error).__name__}: {error}") from None


def adapter_fingerprint(model: SentenceTransformer) -> np.ndarray:
    """The model's embeddings of VERIFICATION_TEXTS (no prompt), rounded: what an adapter folder records so
    that loading it can check the merged model is the trained one."""
    vectors = model.encode(
        list(VERIFICATION_TEXTS), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.round(np.asarray(vectors, dtype=np.float64), FINGERPRINT_DECIMALS)


def adapter_digest(folder: Path) -> str:
    """sha256 over the adapter's peft files (names and contents)."""
    return files_digest(folder, ADAPTER_FILES)


def files_digest(folder: Path, names: Sequence[str]) -> str:
    """sha256 over the named files of ``folder`` (names and contents): the identity of trained weights."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        with (folder / name).open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()
