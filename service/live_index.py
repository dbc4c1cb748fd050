"""The index the service answers from, swapped atomically after each write.

Readers take ``live.current`` once per request and keep using that object; writers (serialised by a
lock) update the index folder, load the new version with the same embedder and then swap the
reference, so reads never wait for a write and never see a half-updated index.

Another process may write the index too (a second worker of ``policyqa serve --workers``, ``policyqa
index``, a replica sharing a Milvus collection): when the index in force reports itself ``changed``, the
first request to see it reloads (the others keep answering from the old one meanwhile), so an upload
through one worker or replica is searchable through every other once that reload is done.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from policyqa.corpus.model import ParsedDocument
from policyqa.indexer import Embedder, PolicyIndex, add_documents, remove_documents
from policyqa.indexer.settings import IndexSettings

logger = logging.getLogger(__name__)


class LiveIndex:
    """A replaceable reference to the loaded ``PolicyIndex`` plus the lock that serialises writers."""

    def __init__(self, index: PolicyIndex, index_dir: Path, settings: IndexSettings):
        self._index = index
        self._index_dir = index_dir
        self._settings = settings
        self._write_lock = threading.Lock()
        self._refresh_lock = threading.Lock()

    @property
    def current(self) -> PolicyIndex:
        """The index to answer the current request from (reloaded first when another replica wrote the
        shared store since it was loaded, unless another request is reloading it already)."""
        index = self._index
        # a write of this process swaps in its own version: no second load while it does
        if index.changed() and not self._write_lock.locked() and self._refresh_lock.acquire(blocking=False):
            try:
                if self._index is index:
                    self._swap(index.embedder)
            finally:
                self._refresh_lock.release()
        return self._index

    def add(self, parsed: ParsedDocument) -> PolicyIndex:
        """Index (or replace) one document and swap in the new version; returns it."""
        with self._write_lock:
            embedder = self._index.embedder
            add_documents(self._index_dir, [parsed], self._settings, embedder=embedder)
            return self._swap(embedder)

    def remove(self, document_id: str) -> PolicyIndex:
        """Drop one document (``UnknownIdError`` when absent) and swap in the new version; returns it."""
        with self._write_lock:
            embedder = self._index.embedder
            remove_documents(self._index_dir, [document_id], self._settings, embedder=embedder)
            return self._swap(embedder)

    def _swap(self, embedder: Embedder) -> PolicyIndex:
        index = PolicyIndex.load(self._index_dir, self._settings, embedder=embedder)
        self._index = index  # a single reference assignment: readers see the old or the new index
        logger.info("index swapped", extra={"clauses": index.manifest.get("clauses")})
        return index
