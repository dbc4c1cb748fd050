"""Clauses in, index out: BM25 + dense retrieval over policy clauses, with fusion and metadata filters."""

from indexer.embedder import Embedder
from indexer.index import PolicyIndex, add_documents, build_index, remove_documents
from indexer.records import SEARCH_MODES, Hit, SearchFilters
from indexer.settings import IndexSettings

__all__ = [
    "SEARCH_MODES",
    "Embedder",
    "Hit",
    "IndexSettings",
    "PolicyIndex",
    "SearchFilters",
    "add_documents",
    "build_index",
    "remove_documents",
]
