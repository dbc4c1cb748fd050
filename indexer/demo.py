"""The demo index: built on first use from the sample documents shipped in ``corpus/samples``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import policyqa.corpus as corpus
from policyqa.indexer import store
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import IndexNotFoundError
from policyqa.indexer.index import build_index
from policyqa.indexer.settings import IndexSettings

DEMO_CORPUS = Path(corpus.__file__).parent / "samples"

logger = logging.getLogger(__name__)


def demo_index_needed(settings: IndexSettings) -> bool:
    """True when the index folder is the default location (``HOME/index``) and the store holds no index
    yet (the folder, or with ``POLICYQA_STORE=milvus`` the Milvus collection)."""
    index_dir = settings.resolved_index_dir
    if index_dir != settings.home / "index":
        return False
    try:
        _check_index(settings)
    except IndexNotFoundError:
        return True
    return False


def _check_index(settings: IndexSettings) -> None:
    """IndexNotFoundError unless the configured store holds an index."""
    if settings.store == "milvus":
        from policyqa.indexer.milvus_store import MilvusStore

        MilvusStore.connect(settings).manifest()
    else:
        store.current_version(settings.resolved_index_dir)


def ensure_demo_index(
    settings: IndexSettings, embedder: Embedder | None = None, *, progress: bool = True
) -> Path:
    """The index folder in force, building the demo index there first when ``demo_index_needed`` (with a
    status line and progress bars unless ``progress`` is False). A missing index elsewhere raises
    IndexNotFoundError."""
    index_dir = settings.resolved_index_dir
    if demo_index_needed(settings):
        logger.info("no index at %s yet: building the demo index from %s", index_dir, DEMO_CORPUS)
        if progress:  # a user-facing status line, like the progress bars that follow
            print(f"policyqa: first run: indexing the demo corpus into {index_dir}…", file=sys.stderr)
        build_index([DEMO_CORPUS], index_dir, settings, embedder=embedder, progress=progress)
    else:
        _check_index(settings)  # IndexNotFoundError for a missing index elsewhere
    return index_dir
