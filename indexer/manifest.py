"""The manifest of an index version: the format, model and tokenizer it was built with, and checks."""

from __future__ import annotations

import logging
from pathlib import Path

from policyqa.indexer.embedder import Embedder
from policyqa.indexer.encoders import INT8_SUFFIX
from policyqa.indexer.errors import IndexMismatchError
from policyqa.indexer.settings import IndexSettings
from policyqa.indexer.tokenizer import Tokenizer

FORMAT_VERSION = 3  # 2: documents keep their subtitle; 3: embedded passages without ancestor headings

logger = logging.getLogger(__name__)


def check_format(index_dir: Path | str, manifest: dict) -> None:
    """IndexMismatchError unless the index was written in the format this code reads."""
    found = manifest.get("format_version")
    if found != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {index_dir} has format version {found}; this policyqa reads format {FORMAT_VERSION}; "
            f"rebuild it with `policyqa index PATH --index-dir {index_dir}`"
        )


def check_model(index_dir: Path | str, manifest: dict, embedder: Embedder, settings: IndexSettings) -> None:
    """IndexMismatchError (naming both models and the fix) unless ``embedder`` built the index."""
    if (manifest.get("model"), manifest.get("dimension")) == (embedder.model_id, embedder.dimension):
        return
    built_by = manifest_backend(manifest)
    if embedder.model_id.startswith(f"{manifest.get('model')}+lora@"):  # built before the adapter applied
        other_way = "or set POLICYQA_ADAPTER=none to search it with the bare base model"
    elif embedder.encoder.backend != built_by and (
        embedder.model_id.removesuffix(embedder.encoder.id_suffix)
        == str(manifest.get("model")).removesuffix(INT8_SUFFIX)
    ):  # the same model on a backend whose vectors differ
        other_way = f"or set POLICYQA_BACKEND={built_by}"
    else:
        other_way = f"or set POLICYQA_MODEL={manifest.get('model_setting')}"
    raise IndexMismatchError(
        f"index at {index_dir} was built with model {manifest.get('model')} "
        f"(dim {manifest.get('dimension')}); "
        f"configured model is {embedder.model_id} (dim {embedder.dimension}); rebuild with "
        f"`policyqa index PATH --index-dir {index_dir} --model {settings.model}` {other_way}"
    )


def manifest_backend(manifest: dict) -> str:
    """The inference backend that embedded the index (torch for versions that do not say)."""
    return manifest.get("backend", "torch")


def manifest_vector_store(manifest: dict) -> str:
    """The vector store backend the index was built with (FAISS for versions that do not say)."""
    return manifest.get("vector_store", "faiss")


def manifest_tokenizer(manifest: dict) -> Tokenizer:
    """The tokenizer the index was built with; warns when the dictionary changed since."""
    tokenizer = Tokenizer(bigrams=manifest["tokenizer"]["bigrams"])
    if tokenizer.dictionary_hash != manifest.get("dictionary_hash"):
        logger.warning(
            "the BM25 dictionary changed since this index was built; rebuild it for exact BM25 matching"
        )
    return tokenizer
