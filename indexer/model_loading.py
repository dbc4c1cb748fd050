"""Load the configured sentence-transformers model strictly offline, with its identity and prompts.

``settings.model == "default"`` materialises (once) and loads the built-in multilingual-e5-small
(:mod:`policyqa.indexer.e5_model`);
a local folder is loaded as is; anything else is a Hugging Face hub name that
must already be in the local cache. Nothing here ever touches the network.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from policyqa.indexer.e5_model import default_model_source, ensure_default_model
from policyqa.indexer.errors import ModelLoadError
from policyqa.indexer.offline_model import OFFLINE_HINT, forbid_hub_network, open_offline
from policyqa.indexer.settings import DEFAULT_MODEL, IndexSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


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
    if settings.model == DEFAULT_MODEL:
        model, model_id = _load_default(settings.model_cache_dir)
    else:
        model, model_id = _load_named(settings.model)
    prompts = model.prompts or {}
    query_prompt = settings.query_prompt if settings.query_prompt is not None else prompts.get("query", "")
    passage_prompt = (
        settings.passage_prompt
        if settings.passage_prompt is not None
        else prompts.get("document", prompts.get("passage", ""))
    )
    logger.info("model loaded", extra={"model": model_id, "seconds": round(time.perf_counter() - started, 2)})
    return LoadedModel(model, model_id, query_prompt, passage_prompt)


def _load_default(cache_dir: Path) -> tuple[SentenceTransformer, str]:
    source = default_model_source()
    folder = ensure_default_model(cache_dir, source)
    try:
        return open_offline(str(folder)), source.model_id
    except ModelLoadError as exc:
        logger.warning("materialised default model unusable (%s); rebuilding it", exc)
    folder = ensure_default_model(cache_dir, source, rebuild=True)
    return open_offline(str(folder)), source.model_id


def _load_named(name: str) -> tuple[SentenceTransformer, str]:
    path = Path(name).expanduser()
    if path.is_dir():
        return open_offline(str(path)), f"local:{path.resolve().name}@{_folder_fingerprint(path)}"
    revision = _cached_hub_revision(name)
    if revision is None:
        raise ModelLoadError(
            f"model {name!r} is not available offline: no such folder, and not in the local "
            f"Hugging Face cache; {OFFLINE_HINT}"
        )
    return open_offline(name), f"{name}@{revision}"


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
