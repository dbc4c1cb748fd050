"""The vector-store seam: where passage vectors live and how the nearest ones are found.

A store speaks passage ids (the index's own, the same in SQLite, BM25 and any backend), never its
internal row numbers, so another backend can replace FAISS without touching the retrievers. Backends
register in ``VECTOR_STORES`` under the name the ``POLICYQA_VECTOR_STORE`` setting gives; the manifest
records the backend a version was built with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol, get_args

import numpy as np

from policyqa.registry import Registry

AnnType = Literal["flat", "hnsw", "ivf"]
ANN_TYPES: tuple[AnnType, ...] = get_args(AnnType)

VECTOR_STORES = Registry("vector store", {"faiss": "policyqa.indexer.faiss_store:FaissStore"})


class VectorStore(Protocol):
    """Passage vectors searchable by inner product (vectors are L2-normalised: cosine similarity).

    Implementations are classes with ``build(vectors, passage_ids, ann)`` and ``load(folder)``
    class methods (see ``FaissStore``)."""

    @property
    def ann(self) -> AnnType:
        """The index type actually in use: exact ``flat`` or an approximate one."""
        ...

    @property
    def passage_ids(self) -> np.ndarray:
        """The stored passage ids, ascending."""
        ...

    def search(
        self, query_vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest passage ids and their inner products, best first; only ``allowed_ids``
        (ascending) when given."""
        ...

    def save(self, folder: Path) -> None:
        """Write the store into ``folder``."""
        ...


def build_vector_store(name: str, vectors: np.ndarray, passage_ids: np.ndarray, ann: AnnType) -> VectorStore:
    """A new store of backend ``name`` holding ``vectors`` (row i is passage ``passage_ids[i]``)."""
    return VECTOR_STORES.resolve(name).build(vectors, passage_ids, ann)


def load_vector_store(name: str, folder: Path) -> VectorStore:
    """The store of backend ``name`` saved in ``folder``."""
    return VECTOR_STORES.resolve(name).load(folder)
