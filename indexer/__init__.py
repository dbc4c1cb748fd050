"""Clauses in, index out: BM25 + dense retrieval over policy clauses, with fusion and metadata filters."""

from policyqa.indexer.embedder import Embedder
from policyqa.indexer.index import PolicyIndex, add_documents, build_index, remove_documents
from policyqa.indexer.records import SEARCH_MODES, Hit, SearchFilters
from policyqa.indexer.settings import IndexSettings

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
