"""Query a clause index (BM25 + dense + fusion); re-exports the functions that write one."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import closing
from datetime import date
from pathlib import Path

import numpy as np

from policyqa.corpus.model import Clause, Document
from policyqa.indexer import store
from policyqa.indexer.bm25 import BM25Index
from policyqa.indexer.build import add_documents, build_index, remove_documents
from policyqa.indexer.dense import DenseIndex
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import IndexCorruptError, InvalidQueryError, UnknownIdError
from policyqa.indexer.fusion import best_possible_score, fuse
from policyqa.indexer.jurisdiction import Item, named_regions, same_region, step_back_other_regions
from policyqa.indexer.manifest import check_format, check_model, manifest_tokenizer
from policyqa.indexer.records import SEARCH_MODES, Hit, SearchFilters
from policyqa.indexer.settings import IndexSettings
from policyqa.indexer.tokenizer import Tokenizer

__all__ = ["PolicyIndex", "add_documents", "build_index", "fuse_hybrid", "remove_documents", "validate_query"]

MAX_QUERY_CHARS = 1000
MAX_K = 1000
MIN_CANDIDATES = 100  # each retriever ranks at least this many passages before fusion
_LOAD_ATTEMPTS = 3  # a load racing two swaps may find its version deleted: it retries with the new one
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_iso_date(text: str) -> bool:
    """True for a valid calendar date written ``yyyy-mm-dd``."""
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


class PolicyIndex:
    """A loaded index: every row, the BM25 matrix and the FAISS index in memory; searches never touch disk."""

    def __init__(
        self,
        *,
        manifest: dict,
        settings: IndexSettings,
        embedder: Embedder,
        tokenizer: Tokenizer,
        documents: list[Document],
        clauses: list[Clause],
        passage_clause_ids: list[str],
        bm25: BM25Index,
        dense: DenseIndex,
    ):
        self.manifest = manifest
        self.settings = settings
        self.embedder = embedder
        self.tokenizer = tokenizer
        self.bm25 = bm25
        self.dense = dense
        self._documents = {document.id: document for document in documents}
        self._clauses = clauses
        self._clause_row = {clause.id: row for row, clause in enumerate(clauses)}
        self._document_clauses: dict[str, list[int]] = {document.id: [] for document in documents}
        for row, clause in enumerate(clauses):
            self._document_clauses[clause.document_id].append(row)
        document_row = {document.id: row for row, document in enumerate(documents)}
        self._document_list = documents
        self.regions = frozenset(document.region for document in documents if document.region)
        self._home_regions = named_regions(settings.home_region or "", self.regions)
        self._passage_clause = np.array([self._clause_row[cid] for cid in passage_clause_ids], dtype=np.int64)
        clause_document = np.array([document_row[clause.document_id] for clause in clauses], dtype=np.int64)
        self._passage_document = (
            clause_document[self._passage_clause] if len(clauses) else self._passage_clause
        )

    @classmethod
    def load(
        cls, index_dir: Path, settings: IndexSettings, *, embedder: Embedder | None = None
    ) -> PolicyIndex:
        """Load the version in force; IndexNotFoundError when absent, IndexMismatchError when incompatible,
        IndexCorruptError when its files cannot be read."""
        index_dir = Path(index_dir)
        unreadable = (
            OSError,
            ValueError,
            RuntimeError,
            sqlite3.Error,
        )  # json, faiss and numpy errors included
        for _attempt in range(_LOAD_ATTEMPTS):
            version = store.current_version(index_dir)
            try:
                manifest = store.read_manifest(version)
            except unreadable as error:
                _raise_unless_swapped(index_dir, version, error)
                continue
            check_format(index_dir, manifest)
            embedder = embedder or Embedder.from_settings(settings, progress=False)
            check_model(index_dir, manifest, embedder, settings)
            try:
                return cls._read_version(index_dir, version, manifest, settings, embedder)
            except unreadable as error:
                _raise_unless_swapped(index_dir, version, error)
        raise IndexCorruptError(f"index at {index_dir} kept changing while it was loaded; try again")

    @classmethod
    def _read_version(
        cls, index_dir: Path, version: Path, manifest: dict, settings: IndexSettings, embedder: Embedder
    ) -> PolicyIndex:
        with closing(store.connect(version)) as connection:
            documents = store.read_documents(connection)
            clauses = store.read_clauses(connection)
            passages = store.read_passage_clauses(connection)
        dense = DenseIndex.load(version / "dense")
        bm25 = BM25Index.load(version / "bm25")
        passage_ids = np.array([passage_id for passage_id, _clause in passages], dtype=np.int64)
        if not np.array_equal(dense.passage_ids, passage_ids) or bm25.size != len(passages):
            raise IndexCorruptError(
                f"index at {index_dir} is inconsistent (version {version.name}); rebuild it"
            )
        tokenizer = manifest_tokenizer(manifest)
        tokenizer.tokenize("预热")  # load the jieba dictionary now rather than on the first query
        embedder.embed_query("预热")  # and run the model once: the first call is several times slower
        return cls(
            manifest=manifest,
            settings=settings,
            embedder=embedder,
            tokenizer=tokenizer,
            documents=documents,
            clauses=clauses,
            passage_clause_ids=[clause_id for _passage, clause_id in passages],
            bm25=bm25,
            dense=dense,
        )

    def search(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        filters: SearchFilters | None = None,
        home_region: str | None = None,
    ) -> list[Hit]:
        """The ``k`` best clauses for ``query``; InvalidQueryError on an empty/long query, bad mode or k.

        ``home_region`` is where the asker is (江苏, 苏州市): for this search it replaces the configured
        home region, whose documents never step back in hybrid ranking; blank means not given."""
        query = validate_query(query, mode, k)
        allowed = self._allowed_passages(filters)
        depth = max(MIN_CANDIDATES, 3 * k)
        rankings: dict[str, list[tuple[int, float]]] = {}
        if mode in ("bm25", "hybrid"):
            rankings["bm25"] = self._bm25_ranking(query, depth, allowed)
        if mode in ("dense", "hybrid"):
            rankings["dense"] = self._dense_ranking(query, depth, allowed)
        if mode == "hybrid":
            preferred = self.preferred_regions(query, home_region)
            fused = fuse_hybrid(rankings, self.settings, self._region_of_row, preferred)
        else:
            fused = rankings[mode]
        positions = {
            name: {row: (rank, score) for rank, (row, score) in enumerate(ranking, start=1)}
            for name, ranking in rankings.items()
        }
        hits = []
        for row, score in fused[:k]:
            clause = self._clauses[row]
            found = {name: position[row] for name, position in positions.items() if row in position}
            hits.append(
                Hit(
                    clause=clause,
                    document=self._documents[clause.document_id],
                    score=float(score),
                    ranks={name: rank for name, (rank, _score) in found.items()},
                    scores={name: float(score) for name, (_rank, score) in found.items()},
                )
            )
        return hits

    def preferred_regions(self, query: str, home_region: str | None = None) -> frozenset[str]:
        """Regions whose documents keep their full hybrid score for ``query``: the ones it names, and
        ``home_region`` (the configured home region when None or blank)."""
        given = (home_region or "").strip()
        home = named_regions(given, self.regions) if given else self._home_regions
        return named_regions(query, self.regions) | home

    def _region_of_row(self, row: int) -> str | None:
        return self._documents[self._clauses[row].document_id].region

    def _bm25_ranking(self, query: str, depth: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        scores = self.bm25.scores(self.tokenizer.tokenize(query))
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > depth:
            candidates = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
        ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
        return self._fold(ordered, scores[ordered])

    def _dense_ranking(self, query: str, depth: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        allowed_rows = None if allowed is None else np.flatnonzero(allowed)
        rows, scores = self.dense.search(self.embedder.embed_query(query), depth, allowed_rows)
        return self._fold(rows, scores)

    def _fold(self, passage_rows: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
        """Passages (best first) → clauses (best passage per clause), as (clause row, score)."""
        clause_rows = self._passage_clause[passage_rows]
        _unique, first = np.unique(clause_rows, return_index=True)
        first.sort()
        return [(int(clause_rows[i]), float(scores[i])) for i in first]

    def _allowed_passages(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Boolean mask over passages that pass ``filters``; None when nothing is constrained."""
        if filters is None or filters == SearchFilters():
            return None
        if filters.document_id is not None:
            self.document(filters.document_id)  # UnknownIdError: say so rather than find nothing
        for bound in (filters.date_from, filters.date_to):
            if bound is not None and not _is_iso_date(bound):
                raise InvalidQueryError(f"dates must be real yyyy-mm-dd dates, got {bound!r}")
        allowed_documents = np.array(
            [_passes(document, filters) for document in self._document_list], dtype=bool
        )
        return allowed_documents[self._passage_document]

    def clause(self, clause_id: str) -> Clause:
        """The clause with ``clause_id``; UnknownIdError when absent."""
        row = self._clause_row.get(clause_id)
        if row is None:
            raise UnknownIdError(f"no clause with id {clause_id!r}")
        return self._clauses[row]

    def document(self, document_id: str) -> Document:
        """The document with ``document_id``; UnknownIdError when absent."""
        document = self._documents.get(document_id)
        if document is None:
            raise UnknownIdError(f"no document with id {document_id!r}")
        return document

    def documents(self) -> list[Document]:
        """Every document, in the order they were indexed."""
        return list(self._document_list)

    def clauses_of(self, document_id: str) -> list[Clause]:
        """The clauses of a document in reading order; UnknownIdError when absent."""
        self.document(document_id)
        return [self._clauses[row] for row in self._document_clauses[document_id]]

    def neighbours(self, clause_id: str) -> tuple[str | None, str | None]:
        """Ids of the previous and next clause in the same document (None at either end)."""
        clause = self.clause(clause_id)
        rows = self._document_clauses[clause.document_id]
        position = rows.index(self._clause_row[clause_id])
        previous = self._clauses[rows[position - 1]].id if position > 0 else None
        following = self._clauses[rows[position + 1]].id if position + 1 < len(rows) else None
        return previous, following


def fuse_hybrid(
    rankings: Mapping[str, Sequence[tuple[Item, float]]],
    settings: IndexSettings,
    region_of: Callable[[Item], str | None],
    preferred_regions: Collection[str],
) -> list[tuple[Item, float]]:
    """The hybrid ranking as ``PolicyIndex.search`` makes it: the BM25 and dense rankings fused as
    ``settings`` say, then documents of regions not preferred step back
    (see ``policyqa.indexer.jurisdiction``)."""
    weights = {"bm25": settings.bm25_weight, "dense": settings.dense_weight}
    fused = fuse(rankings, weights, strategy=settings.fusion, rrf_k=settings.rrf_k)
    best = best_possible_score(weights, strategy=settings.fusion, rrf_k=settings.rrf_k)
    return step_back_other_regions(fused, region_of, preferred_regions, settings.other_region_penalty * best)


def _raise_unless_swapped(index_dir: Path, version: Path, error: Exception) -> None:
    """A version that vanished because a newer one was swapped in is retried; anything else is broken."""
    if store.current_version(index_dir) == version:
        raise IndexCorruptError(
            f"index at {index_dir} cannot be read ({type(error).__name__}: {error}); rebuild it"
        ) from error


def validate_query(query: str, mode: str, k: int) -> str:
    """The stripped query; InvalidQueryError for an empty or too long query, an unknown mode or a bad k."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidQueryError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    if mode not in SEARCH_MODES:
        raise InvalidQueryError(f"unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidQueryError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return query.strip()


def _passes(document: Document, filters: SearchFilters) -> bool:
    if any(
        wanted is not None and wanted != actual
        for wanted, actual in (
            (filters.document_id, document.id),
            (filters.issuer, document.issuer),
            (filters.doc_type, document.doc_type),
        )
    ):
        return False
    if filters.region is not None and not (document.region and same_region(filters.region, document.region)):
        return False
    if filters.date_from is None and filters.date_to is None:
        return True
    if document.date is None:
        return False
    return (filters.date_from or "") <= document.date <= (filters.date_to or "9999-12-31")
