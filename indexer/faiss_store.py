"""The FAISS vector store: inner-product search over every vector (flat, stored in float16) by default, HNSW
or IVF for large corpora.

A flat scan is bound by memory traffic: 73k × 384 float32 vectors are 113 MB read per search, and two
concurrent searches on 2 cores each took twice as long as one alone. Stored in float16 (FAISS's scalar
quantiser) a scan reads half of that and scores within ~1e-4 of float32 (the float32 vectors stay in the
version's ``vectors.npy``, which updates re-use).

Row ``i`` of the FAISS index is the passage whose id is ``passage_ids[i]`` (ascending); the mapping is
saved as ``rows.npy`` next to ``dense.faiss``, and rows never leave this module. Filtered searches
restrict FAISS to the allowed rows with an ``IDSelectorBatch`` (exact with the flat index); an
approximate index given a small allowed set scores those rows exactly instead, because graph/list
traversal would miss most of them.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import faiss
import numpy as np

from policyqa.indexer.vector_store import ANN_TYPES, AnnType

HNSW_NEIGHBOURS = 32
IVF_MIN_PASSAGES = 1000  # below this an IVF index cannot be trained usefully: flat is used instead
_IVF_POINTS_PER_LIST = 39  # FAISS's minimum training points per centroid
EXACT_FILTER_LIMIT = 4096  # approximate indexes score at most this many allowed rows exactly

logger = logging.getLogger(__name__)


class FaissStore:
    """A FAISS index plus its row → passage id mapping (a ``VectorStore``)."""

    def __init__(self, index: faiss.Index, passage_ids: np.ndarray):
        self.index = index
        self.passage_ids = passage_ids

    @property
    def ann(self) -> AnnType:
        """The index type actually in use."""
        if isinstance(self.index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(self.index, faiss.IndexIVF) else "flat"

    @classmethod
    def build(cls, vectors: np.ndarray, passage_ids: np.ndarray, ann: AnnType = "flat") -> FaissStore:
        """Index L2-normalised ``vectors`` (n × d float32); row i belongs to ``passage_ids[i]``."""
        if ann not in ANN_TYPES:
            raise ValueError(f"unknown ann type {ann!r}; choose one of {', '.join(ANN_TYPES)}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        passage_ids = np.asarray(passage_ids, dtype=np.int64)
        if np.any(np.diff(passage_ids) <= 0):
            raise ValueError("passage ids must be given in ascending order")
        count, dimension = vectors.shape
        if ann == "ivf" and count < IVF_MIN_PASSAGES:
            logger.info("only %d passages: using a flat index instead of IVF", count)
            ann = "flat"
        if ann == "hnsw":
            index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
        elif ann == "ivf":
            lists = max(1, min(round(math.sqrt(count)), count // _IVF_POINTS_PER_LIST))
            index = faiss.IndexIVFFlat(
                faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT
            )
            index.train(vectors)
            index.make_direct_map()  # lets filtered searches reconstruct rows
        else:  # every vector scanned, stored in float16: half the memory traffic of a float32 scan
            index = faiss.IndexScalarQuantizer(
                dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        index.add(vectors)
        return cls(index, passage_ids)

    def search(
        self, query_vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest passage ids and their inner products, best first; only ``allowed_ids``
        (ascending) when given."""
        allowed_rows = None if allowed_ids is None else self._rows(allowed_ids)
        rows, scores = self._search_rows(query_vector, k, allowed_rows)
        return self.passage_ids[rows], scores

    def _search_rows(
        self, query_vector: np.ndarray, k: int, allowed_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best FAISS rows and their inner products, best first; only ``allowed_rows`` when
        given."""
        if self.index.ntotal == 0 or k < 1 or (allowed_rows is not None and len(allowed_rows) == 0):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        k = min(k, self.index.ntotal)
        query = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1)
        if allowed_rows is not None and self.ann != "flat" and len(allowed_rows) <= EXACT_FILTER_LIMIT:
            return self._exact_search(query[0], k, np.asarray(allowed_rows, dtype=np.int64))
        scores, rows = self.index.search(query, k, params=self._search_parameters(k, allowed_rows))
        found = rows[0] >= 0
        return rows[0][found], scores[0][found]

    def _rows(self, passage_ids: np.ndarray) -> np.ndarray:
        """The rows of ``passage_ids`` (ids not stored are dropped)."""
        ids = np.asarray(passage_ids, dtype=np.int64)
        rows = np.searchsorted(self.passage_ids, ids)
        inside = rows < len(self.passage_ids)
        rows, ids = rows[inside], ids[inside]
        return rows[self.passage_ids[rows] == ids]

    def _exact_search(self, query: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = self.index.reconstruct_batch(rows) @ query
        best = np.argsort(-scores, kind="stable")[:k]
        return rows[best], scores[best].astype(np.float32)

    def _search_parameters(self, k: int, allowed_rows: np.ndarray | None) -> faiss.SearchParameters | None:
        selector = None
        if allowed_rows is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_rows, dtype=np.int64))
        if isinstance(self.index, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(64, 2 * k))
        if isinstance(self.index, faiss.IndexIVF):
            nprobe = min(self.index.nlist, max(8, self.index.nlist // 8))
            return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        return faiss.SearchParameters(sel=selector) if selector is not None else None

    def save(self, folder: Path) -> None:
        """Write ``dense.faiss`` and ``rows.npy`` into ``folder`` (through Python's file API, so that a full
        disk is an OSError like any other write's, not a FAISS RuntimeError)."""
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "dense.faiss", "wb") as handle:
            handle.write(memoryview(faiss.serialize_index(self.index)))
        np.save(folder / "rows.npy", self.passage_ids)

    @classmethod
    def load(cls, folder: Path) -> FaissStore:
        """Read an index written by :meth:`save`, its vectors memory-mapped (a fast cold start, and processes
        serving the same version share the pages)."""
        index = faiss.read_index(str(folder / "dense.faiss"), faiss.IO_FLAG_MMAP_IFC)
        if isinstance(index, faiss.IndexIVF):
            index.make_direct_map()
        return cls(index, np.load(folder / "rows.npy"))
