"""The index the service answers from, swapped atomically after each write.

Readers take ``live.current`` once per request and keep using that object; writers (serialised by a
lock) update the index folder, load the new version with the same embedder and then swap the
reference, so reads never wait for a write and never see a half-updated index.

Another process may write the index too (a second worker of ``policyqa serve --workers``, ``policyqa
index``, a replica sharing a Milvus collection): when the index in force reports itself ``changed``, the
first request to see it starts a reload in the background (requests keep answering from the old one
meanwhile), so an upload through one worker or replica is searchable through every other once that reload
is done.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from policyqa.corpus.model import ParsedDocument
from policyqa.errors import PolicyQAError
from policyqa.indexer import Embedder, PolicyIndex, add_documents, remove_documents
from policyqa.indexer.settings import IndexSettings

logger = logging.getLogger(__name__)

RELOAD_RETRY_SECONDS = 5.0  # after a failed reload (a damaged version, a full disk)


class LiveIndex:
    """A replaceable reference to the loaded ``PolicyIndex`` plus the lock that serialises writers."""

    def __init__(self, index: PolicyIndex, index_dir: Path, settings: IndexSettings):
        self._index = index
        self._index_dir = index_dir
        self._settings = settings
        self._write_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._retry_at = 0.0  # monotonic time before which a failed reload is not tried again

    @property
    def current(self) -> PolicyIndex:
        """The index to answer the current request from. When another process has written the index since it
        was loaded, a background thread loads the new version and swaps it in (one reload at a time, never
        on the request's thread: /ready answers on the event loop); requests answer from the loaded one
        meanwhile."""
        index = self._index
        if (
            time.monotonic() >= self._retry_at
            and index.changed()
            and self._refresh_lock.acquire(blocking=False)
        ):
            threading.Thread(target=self._refresh, args=(index,), name="policyqa-reload", daemon=True).start()
        return self._index

    def _refresh(self, index: PolicyIndex) -> None:
        """Swap in the version in force unless ``index`` was replaced already; under the write lock, so a
        write of this process and a reload never swap in each other's older version."""
        try:
            with self._write_lock:
                if self._index is index:
                    self._swap(index.embedder)
        except PolicyQAError as error:  # e.g. a damaged version: the loaded index keeps serving
            self._retry_at = time.monotonic() + RELOAD_RETRY_SECONDS
            logger.error("index not reloaded", extra={"error": str(error)})
        except Exception:  # the thread's boundary
            self._retry_at = time.monotonic() + RELOAD_RETRY_SECONDS
            logger.exception("index not reloaded")
        finally:
            self._refresh_lock.release()

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
