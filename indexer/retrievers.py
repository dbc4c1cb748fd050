"""Retrievers: the first stage of the pipeline, each ranking clauses for a query on its own.

A retriever translates the typed ``SearchFilters`` itself (here through the catalogue; a database
backend would turn them into its own filter expression) and answers with clause ids and scores.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from policyqa.indexer.bm25 import BM25Index
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.records import Query, Ranking, SearchFilters
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.indexer.vector_store import VectorStore

# A filter leaving out at most this share of the passages is applied after an unfiltered search this many
# times deeper than the kept share needs (docs/decisions/2026-12-02-query-path.md).
OVERFETCH_MAX_EXCLUDED = 0.5
OVERFETCH = 2


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
        candidates = np.flatnonzero(scores > 0)
        if allowed is not None:
            candidates = candidates[allowed[candidates]]
        if len(candidates) > depth:
            candidates = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
        ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
        return self.catalogue.fold(ordered, scores[ordered])


class DenseRetriever:
    """Semantic retrieval: the query vector's nearest passage vectors in the vector store.

    A filter that excludes few passages (every search keeps the versions in force on its day, which
    leaves out the superseded ones) is applied after an unfiltered search ``OVERFETCH`` times deeper
    than the kept share needs: restricting the store to the allowed ids costs more than the search
    itself (an id set of the whole index built and probed per row). When fewer than ``depth`` kept
    passages come back, the store searches the allowed ids instead, so the hits are those of the
    restricted search (on an exact index, the same)."""

    name = "dense"

    def __init__(self, store: VectorStore, catalogue: Catalogue):
        self.store = store
        self.catalogue = catalogue

    def search(self, query: Query, depth: int, filters: SearchFilters | None) -> Ranking:
        allowed = self.catalogue.allowed_passages(filters)
        if allowed is not None:
            share = np.count_nonzero(allowed) / len(allowed)
            if share >= 1 - OVERFETCH_MAX_EXCLUDED:
                found = self._search_then_drop(
                    query.vector, math.ceil(OVERFETCH * depth / share), depth, allowed
                )
                if found is not None:
                    return found
        allowed_ids = None if allowed is None else self.catalogue.passage_ids[allowed]
        passage_ids, scores = self.store.search(query.vector, depth, allowed_ids)
        return self.catalogue.fold(self.catalogue.passage_rows(passage_ids), scores)

    def _search_then_drop(
        self, vector: np.ndarray, deeper: int, depth: int, allowed: np.ndarray
    ) -> Ranking | None:
        """The ``depth`` best allowed passages from one unfiltered search ``deeper`` deep, folded; None
        when fewer came back (and the search did not cover every passage)."""
        passage_ids, scores = self.store.search(vector, deeper)
        rows = self.catalogue.passage_rows(passage_ids)
        kept = np.flatnonzero(allowed[rows])
        if len(kept) < depth and deeper < len(allowed):
            return None
        kept = kept[:depth]
        return self.catalogue.fold(rows[kept], scores[kept])
