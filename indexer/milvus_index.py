"""Searching the Milvus store: retrievers that push ``SearchFilters`` down as Milvus boolean expressions,
and a loaded ``PolicyIndex`` over the collection in force.

A replica caches the collection's catalogue (documents, clauses, passage ids) to fold passages into
clauses and to answer lookups; every write in Milvus replaces a generation token, and an index whose token
is no longer the collection's reports itself ``changed`` (the service then reloads the catalogue).
Hybrid search fuses the two Milvus result lists with our own fusion, adjust stages and re-ranker, which is
what reproduces the folder store's ranking (docs/decisions/2026-12-01-milvus-store.md).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import numpy as np

from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.jurisdiction import place_key
from policyqa.indexer.manifest import manifest_tokenizer
from policyqa.indexer.milvus_store import MilvusStore, connect_checked
from policyqa.indexer.records import Query, Ranking, SearchFilters
from policyqa.indexer.settings import IndexSettings
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.indexer.vector_store import AnnType

if TYPE_CHECKING:
    from policyqa.indexer.index import PolicyIndex

GENERATION_CHECK_SECONDS = 0.2  # how stale a replica's catalogue may be, at most, after another's write


def _literal(value: str) -> str:
    """A Milvus string literal (double quotes, backslash escapes)."""
    return json.dumps(value, ensure_ascii=False)


def filter_expression(filters: SearchFilters | None, catalogue: Catalogue) -> str | None:
    """``filters`` as a Milvus boolean expression: ``""`` when nothing is constrained, None when nothing
    can pass (an empty document set). Checked like the folder store's (unknown document, bad dates)."""
    if not catalogue.check_filters(filters):
        return ""
    assert filters is not None
    if filters.document_ids is not None and not filters.document_ids:
        return None
    terms = []
    if filters.document_ids is not None:
        terms.append(f"document_id in [{', '.join(map(_literal, sorted(filters.document_ids)))}]")
    for column in ("document_id", "issuer", "doc_type"):
        value = getattr(filters, column)
        if value is not None:
            terms.append(f"{column} == {_literal(value)}")
    if filters.region is not None:  # 江苏 = 江苏省: the same place key (indexer.jurisdiction)
        terms.append(f'region_key != "" and region_key == {_literal(place_key(filters.region))}')
    if filters.date_from is not None or filters.date_to is not None:
        terms.append('date != ""')
        if filters.date_from is not None:
            terms.append(f"date >= {_literal(filters.date_from)}")
        if filters.date_to is not None:
            terms.append(f"date <= {_literal(filters.date_to)}")
    if excluded := catalogue.not_in_force(filters):  # versions not in force on filters.as_of
        terms.append(f"document_id not in [{', '.join(map(_literal, sorted(excluded)))}]")
    return " and ".join(f"({term})" for term in terms)


class MilvusBM25Retriever:
    """Lexical retrieval inside Milvus: our tokens, Milvus's BM25 function and sparse index."""

    name = "bm25"

    def __init__(self, milvus: MilvusStore, tokenizer: Tokenizer, catalogue: Catalogue):
        self.milvus = milvus
        self.tokenizer = tokenizer
        self.catalogue = catalogue

    def search(self, query: Query, depth: int, filters: SearchFilters | None) -> Ranking:
        expression = filter_expression(filters, self.catalogue)
        if expression is None:
            return []
        passage_ids, scores = self.milvus.search_bm25(self.tokenizer.tokenize(query.text), depth, expression)
        return self.catalogue.fold_known(passage_ids, scores)


class MilvusDenseRetriever:
    """Semantic retrieval inside Milvus: the query vector's nearest passage vectors."""

    name = "dense"

    def __init__(self, vectors: MilvusVectors):
        self.vectors = vectors

    def search(self, query: Query, depth: int, filters: SearchFilters | None) -> Ranking:
        catalogue = self.vectors.catalogue
        expression = filter_expression(filters, catalogue)
        if expression is None:
            return []
        passage_ids, scores = self.vectors.milvus.search_dense(
            query.vector, depth, expression, self.vectors.ann
        )
        return catalogue.fold_known(passage_ids, scores)


class MilvusVectors:
    """The collection's vectors as a ``VectorStore`` for what searches by passage ids (the relevance
    features); Milvus writes them itself, so there is nothing to save."""

    def __init__(self, milvus: MilvusStore, catalogue: Catalogue, ann: AnnType):
        self.milvus = milvus
        self.catalogue = catalogue
        self.ann = ann

    @property
    def passage_ids(self) -> np.ndarray:
        """The passage ids of the cached catalogue, ascending."""
        return self.catalogue.passage_ids

    def search(
        self, query_vector: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest passage ids and their inner products; only ``allowed_ids`` when given."""
        expression = ""
        if allowed_ids is not None:
            if not len(allowed_ids):
                return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
            expression = f"passage_id in [{', '.join(str(int(passage)) for passage in allowed_ids)}]"
        return self.milvus.search_dense(query_vector, k, expression, self.ann)


class Generation:
    """Whether the collection was written since a catalogue was loaded: asks Milvus at most every
    ``GENERATION_CHECK_SECONDS``."""

    def __init__(self, milvus: MilvusStore, token: str):
        self.milvus = milvus
        self.token = token
        self._next_check = time.monotonic() + GENERATION_CHECK_SECONDS
        self._changed = False

    def changed(self) -> bool:
        """True once another write replaced the token this catalogue was loaded at."""
        if not self._changed and time.monotonic() >= self._next_check:
            self._changed = self.milvus.generation() != self.token
            self._next_check = time.monotonic() + GENERATION_CHECK_SECONDS
        return self._changed


def load_milvus_index(settings: IndexSettings, embedder: Embedder | None = None) -> PolicyIndex:
    """The index in force in the configured Milvus collection, its catalogue cached; IndexNotFoundError
    when the collection holds none, IndexMismatchError when built with another model."""
    from policyqa.indexer.index import PolicyIndex

    milvus, manifest, embedder = connect_checked(settings, embedder)
    token = milvus.generation()
    catalogue = milvus.catalogue()
    manifest = {
        **manifest,
        "documents": len(catalogue.documents()),
        "clauses": catalogue.clause_count,
        "passages": len(catalogue.passage_ids),
    }
    tokenizer = manifest_tokenizer(manifest)
    vectors = MilvusVectors(milvus, catalogue, manifest["ann"])
    tokenizer.tokenize("预热")  # load the jieba dictionary now rather than on the first query
    embedder.embed_query("预热")
    return PolicyIndex(
        manifest=manifest,
        settings=settings,
        embedder=embedder,
        tokenizer=tokenizer,
        catalogue=catalogue,
        retrievers=[MilvusBM25Retriever(milvus, tokenizer, catalogue), MilvusDenseRetriever(vectors)],
        vector_store=vectors,
        changed=Generation(milvus, token).changed,
    )
