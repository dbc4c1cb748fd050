"""Retrievers: the first stage of the pipeline, each ranking clauses for a query on its own.

A retriever translates the typed ``SearchFilters`` itself (here through the catalogue; a database
backend would turn them into its own filter expression) and answers with clause ids and scores.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from policyqa.indexer.bm25 import BM25Index
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.records import Query, Ranking, SearchFilters
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.indexer.vector_store import VectorStore


class Retriever(Protocol):
    """Ranks clauses for a query: the ``depth`` best passages, folded to their clauses."""

    name: str

    def search(self, query: Query, depth: int, filters: SearchFilters | None) -> Ranking:
        """Clause ids and scores, best first."""
        ...


class BM25Retriever:
    """Lexical retrieval: jieba terms scored by BM25 over the passages' lexical text."""

    name = "bm25"

    def __init__(self, bm25: BM25Index, tokenizer: Tokenizer, catalogue: Catalogue):
        self.bm25 = bm25
        self.tokenizer = tokenizer
        self.catalogue = catalogue

    def search(self, query: Query, depth: int, filters: SearchFilters | None) -> Ranking:
        scores = self.bm25.scores(self.tokenizer.tokenize(query.text))
        allowed = self.catalogue.allowed_passages(filters)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > depth:
            candidates = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
        ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
        return self.catalogue.fold(ordered, scores[ordered])


class DenseRetriever:
    """Semantic retrieval: the query vector's nearest passage vectors in the vector store."""

    name = "dense"

    def __init__(self, store: VectorStore, catalogue: Catalogue):
        self.store = store
        self.catalogue = catalogue

    def search(self, query: Query, depth: int, filters: SearchFilters | None) -> Ranking:
        allowed = self.catalogue.allowed_passages(filters)
        allowed_ids = None if allowed is None else self.catalogue.passage_ids[allowed]
        passage_ids, scores = self.store.search(query.vector, depth, allowed_ids)
        return self.catalogue.fold(self.catalogue.passage_rows(passage_ids), scores)
