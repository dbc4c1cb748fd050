"""Persistent cache of passage embeddings: one SQLite file, rows keyed by sha256(model_id, prompt, text).

WAL mode lets searches read while an indexing run writes; each batch is committed as it completes, so an
interrupted run resumes where it stopped. Vectors are stored as raw little-endian float32; a passage's
sentence vectors (``indexer/sentence_vectors.py``), keyed by the passage and the sentences' spans, as one
little-endian float16 matrix in a second table.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

from policyqa.indexer.errors import EmbeddingCacheError

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS sentence_embeddings"
    " (key BLOB PRIMARY KEY, vectors BLOB NOT NULL) WITHOUT ROWID",
)
_LOOKUP_CHUNK = 500  # keys per SELECT, well below SQLite's bound-variable limit
_BUSY_TIMEOUT_SECONDS = 30.0


def cache_key(model_id: str, prompt: str, text: str) -> bytes:
    """The 32-byte key of ``text`` embedded by ``model_id`` after ``prompt``."""
    return hashlib.sha256(json.dumps([model_id, prompt, text], ensure_ascii=False).encode("utf-8")).digest()


def sentences_key(model_id: str, prompt: str, text: str, spans: Sequence[tuple[int, int]]) -> bytes:
    """The 32-byte key of the vectors of the sentences at ``spans`` of ``text``, pooled from its pass."""
    data = json.dumps([model_id, prompt, text, [list(span) for span in spans]], ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).digest()


class EmbeddingCache:
    """Float32 vectors by key in the SQLite file at ``path`` (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get_many(self, keys: Sequence[bytes], dimension: int) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``keys``; rows of the wrong size are ignored (treated as misses)."""
        found: dict[bytes, np.ndarray] = {}
        for key, blob in self._select("SELECT key, vector FROM embeddings", keys):
            if len(blob) == 4 * dimension:
                found[key] = np.frombuffer(blob, "<f4").copy()
        return found

    def _select(self, select: str, keys: Sequence[bytes]) -> Iterator[tuple[bytes, bytes]]:
        """The ``(key, blob)`` rows of ``select`` whose key is among ``keys``."""
        if not keys or not self.path.exists():
            return
        with self._connect() as connection:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                placeholders = ",".join("?" * len(chunk))
                yield from connection.execute(f"{select} WHERE key IN ({placeholders})", chunk)

    def get_sentences(self, keys: Sequence[bytes], dimension: int) -> dict[bytes, np.ndarray]:
        """The cached sentence matrices (float16, ``(sentences, dimension)``) among ``keys``."""
        found: dict[bytes, np.ndarray] = {}
        for key, blob in self._select("SELECT key, vectors FROM sentence_embeddings", keys):
            if len(blob) % (2 * dimension) == 0:
                found[key] = np.frombuffer(blob, "<f2").reshape(-1, dimension).copy()
        return found

    def put_many(
        self, keys: Sequence[bytes], vectors: np.ndarray, sentences: dict[bytes, np.ndarray] | None = None
    ) -> None:
        """Store ``vectors[i]`` under ``keys[i]`` and each sentence matrix of ``sentences`` under its key,
        in one transaction."""
        rows = [(key, np.asarray(vector, "<f4").tobytes()) for key, vector in zip(keys, vectors, strict=True)]
        matrices = [(key, np.asarray(matrix, "<f2").tobytes()) for key, matrix in (sentences or {}).items()]
        with self._connect() as connection, connection:
            connection.executemany("INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)", rows)
            connection.executemany(
                "INSERT OR REPLACE INTO sentence_embeddings (key, vectors) VALUES (?, ?)", matrices
            )

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as connection:
            return connection.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                for statement in _SCHEMA:
                    connection.execute(statement)
                yield connection
        except sqlite3.Error as exc:
            raise EmbeddingCacheError(f"embedding cache {self.path} is unusable: {exc}") from exc
