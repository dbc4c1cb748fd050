"""A loaded index: a thin front over its catalogue and its retrieval pipeline; re-exports the functions
that write one."""

from __future__ import annotations

import sqlite3
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np

from policyqa.corpus.model import Clause, Document
from policyqa.indexer import store
from policyqa.indexer.bm25 import BM25Index
from policyqa.indexer.build import add_documents, build_index, remove_documents
from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.errors import IndexCorruptError, InvalidQueryError
from policyqa.indexer.integrity import check_vectors, damaged, verify_files
from policyqa.indexer.manifest import check_format, check_model, manifest_tokenizer, manifest_vector_store
from policyqa.indexer.pipeline import RetrievalPipeline
from policyqa.indexer.records import (
    MAX_K,
    SEARCH_MODES,
    Hit,
    Query,
    Ranking,
    Retrieval,
    SearchFilters,
    SearchRequest,
)
from policyqa.indexer.relevance import RelevanceScorer, load_relevance_model
from policyqa.indexer.retrievers import BM25Retriever, DenseRetriever, Retriever
from policyqa.indexer.sentence_vectors import StoredSentenceVectors
from policyqa.indexer.settings import IndexSettings
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.indexer.validity import today
from policyqa.indexer.vector_store import VectorStore, load_vector_store

__all__ = [
    "PolicyIndex",
    "add_documents",
    "build_index",
    "remove_documents",
    "validate_query",
    "verify_index",
]

MIN_CANDIDATES = 100  # each retriever ranks at least this many passages before fusion
_LOAD_ATTEMPTS = 3  # a load racing two swaps may find its version deleted: it retries with the new one
# What reading damaged files raises: json, numpy, scipy (zip members), faiss (RuntimeError) and SQLite errors.
_UNREADABLE = (
    OSError,
    ValueError,
    RuntimeError,
    EOFError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    sqlite3.Error,
)


class PolicyIndex:
    """A loaded index: every row, the BM25 matrix and the vector store in memory; searches never touch
    disk. Lookups go to the catalogue, searches through the pipeline."""

    def __init__(
        self,
        *,
        manifest: dict,
        settings: IndexSettings,
        embedder: Embedder,
        tokenizer: Tokenizer,
        catalogue: Catalogue,
        retrievers: Sequence[Retriever],
        vector_store: VectorStore,
        sentence_vectors: StoredSentenceVectors | None = None,
        changed: Callable[[], bool] | None = None,
    ):
        """``retrievers`` are the store's (BM25 and dense), ``vector_store`` what the relevance features
        search by passage id; ``sentence_vectors`` the answers' sentence vectors, when the index has them;
        ``changed`` tells whether the store was written since this was loaded (by another process: a second
        server worker, ``policyqa index``, a replica sharing Milvus)."""
        self.manifest = manifest
        self.settings = settings
        self.embedder = embedder
        self.tokenizer = tokenizer
        self.catalogue = catalogue
        self.retrievers = tuple(retrievers)
        self.vector_store = vector_store
        self.sentence_vectors = sentence_vectors
        self.changed = changed or (lambda: False)
        self.pipeline = RetrievalPipeline.from_settings(
            settings, catalogue, self.retrievers, embedder.model_id, vector_store
        )
        self.relevance = RelevanceScorer(load_relevance_model(embedder.model_id), vector_store, catalogue)

    @classmethod
    def load(
        cls, index_dir: Path, settings: IndexSettings, *, embedder: Embedder | None = None
    ) -> PolicyIndex:
        """Load the version in force; IndexNotFoundError when absent, IndexMismatchError when incompatible,
        IndexCorruptError (one line, no path) when its files are damaged or cannot be read.

        The version's files are checked against the manifest's checksums, and the SQLite rows read into the
        catalogue, in background threads while the model loads (a second core shortens the cold start); the
        binary files (vectors, BM25) are parsed only once verified.
        With ``POLICYQA_STORE=milvus`` the index is the configured Milvus collection instead
        (``indexer.milvus_index``; ``index_dir`` is not read)."""
        if settings.store == "milvus":
            from policyqa.indexer.milvus_index import load_milvus_index

            return load_milvus_index(settings, embedder)
        index_dir = Path(index_dir)
        for _attempt in range(_LOAD_ATTEMPTS):
            version = store.current_version(index_dir)
            try:
                manifest = store.read_manifest(version)
            except _UNREADABLE as error:
                _raise_unless_swapped(index_dir, version, error)
                continue
            check_format(index_dir, manifest)
            with ThreadPoolExecutor(max_workers=3, thread_name_prefix="policyqa-load") as pool:
                verified = pool.submit(verify_files, version, manifest)
                catalogue = pool.submit(read_catalogue, version)
                tokenizer = pool.submit(_loaded_tokenizer, manifest)
                try:
                    embedder = embedder or Embedder.from_settings(settings, progress=False)
                    check_model(index_dir, manifest, embedder, settings)
                    return cls._read_version(
                        version,
                        manifest,
                        settings,
                        embedder,
                        verified,
                        catalogue.result(),
                        tokenizer.result(),
                    )
                except (*_UNREADABLE, IndexCorruptError) as error:
                    # a file that failed to parse is reported by its checksum when that is what broke it
                    _raise_unless_swapped(index_dir, version, _verification_error(verified) or error)
        raise IndexCorruptError(f"index at {index_dir} kept changing while it was loaded; try again")

    @classmethod
    def _read_version(
        cls,
        version: Path,
        manifest: dict,
        settings: IndexSettings,
        embedder: Embedder,
        verified: Future[int],
        catalogue: Catalogue,
        tokenizer: Tokenizer,
    ) -> PolicyIndex:
        verified.result()  # raises IndexCorruptError for a damaged file
        vector_store = load_vector_store(manifest_vector_store(manifest), version / "dense")
        bm25 = BM25Index.load(version / "bm25")
        if not np.array_equal(vector_store.passage_ids, catalogue.passage_ids) or bm25.size != len(
            catalogue.passage_ids
        ):
            raise IndexCorruptError(
                f"index version {version.name} is inconsistent (vectors, BM25 and rows disagree); rebuild it"
            )
        sentence_vectors = StoredSentenceVectors.load(version, manifest)
        if sentence_vectors is not None and not sentence_vectors.fits(len(catalogue.passage_ids)):
            raise IndexCorruptError(
                f"index version {version.name} is inconsistent (sentence vectors and passages disagree); "
                "rebuild it"
            )
        embedder.embed_query("预热")  # and run the model once: the first call is several times slower
        return cls(
            manifest=manifest,
            settings=settings,
            embedder=embedder,
            tokenizer=tokenizer,
            catalogue=catalogue,
            retrievers=[BM25Retriever(bm25, tokenizer, catalogue), DenseRetriever(vector_store, catalogue)],
            vector_store=vector_store,
            sentence_vectors=sentence_vectors,
            changed=_superseded(version),
        )

    def with_settings(
        self, settings: IndexSettings, *, vector_store: VectorStore | None = None
    ) -> PolicyIndex:
        """The same loaded data searched with another pipeline (``settings``) or vector store (its dense
        retriever replacing the index's): what fusion sweeps and ANN trade-offs compare, without loading
        anything again."""
        retrievers = self.retrievers
        if vector_store is not None:
            dense = DenseRetriever(vector_store, self.catalogue)
            retrievers = tuple(
                dense if retriever.name == dense.name else retriever for retriever in retrievers
            )
        return PolicyIndex(
            manifest=self.manifest,
            settings=settings,
            embedder=self.embedder,
            tokenizer=self.tokenizer,
            catalogue=self.catalogue,
            retrievers=retrievers,
            vector_store=vector_store or self.vector_store,
            sentence_vectors=self.sentence_vectors,
            changed=self.changed,
        )

    def query(self, text: str) -> Query:
        """``text`` as a query of this index (embedded on first use, once)."""
        return Query(text, self.embedder.embed_query)

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
        return self.retrieve(query, mode=mode, k=k, filters=filters, home_region=home_region).hits

    def retrieve(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        k: int = 10,
        filters: SearchFilters | None = None,
        home_region: str | None = None,
    ) -> Retrieval:
        """What :meth:`search` finds, each hit with its relevance, and the query it embedded (an answerer
        reuses its vector). A ``bm25`` search embeds nothing, so its hits carry no relevance (None): the
        relevance model weighs the query's cosine to each clause, and embedding the query for it alone cost
        ten times the lexical search (docs/decisions/2026-12-02-query-path.md)."""
        text = validate_query(query, mode, k, self.settings.max_query_chars)
        filters = dated(filters, self.settings)
        request = SearchRequest(
            self.query(text),
            mode,
            max(MIN_CANDIDATES, 3 * k),
            filters,
            home_region,  # type: ignore[arg-type]
        )
        rankings = self.pipeline.rankings(request)
        final = self.pipeline.combine(request, rankings)
        hits = self.to_hits(final[:k], rankings, day=filters.as_of)
        if mode != "bm25":
            hits = self.relevance.score(request.query, hits)
        return Retrieval(request.query, hits)

    def to_hits(self, ranking: Ranking, rankings: dict[str, Ranking], *, day: str | None = None) -> list[Hit]:
        """``ranking`` as hits, each with its rank and score in every retriever's ranking that has it and its
        validity on ``day`` (default today)."""
        day = day or today(self.settings)
        positions = {
            name: {clause_id: (rank, score) for rank, (clause_id, score) in enumerate(found, start=1)}
            for name, found in rankings.items()
        }
        hits = []
        for clause_id, score in ranking:
            clause = self.catalogue.clause(clause_id)
            found = {
                name: position[clause_id] for name, position in positions.items() if clause_id in position
            }
            hits.append(
                Hit(
                    clause=clause,
                    document=self.catalogue.document(clause.document_id),
                    score=float(score),
                    ranks={name: rank for name, (rank, _score) in found.items()},
                    scores={name: float(score) for name, (_rank, score) in found.items()},
                    validity=self.catalogue.validity.on(clause.document_id, day),
                )
            )
        return hits

    def clause(self, clause_id: str) -> Clause:
        """The clause with ``clause_id``; UnknownIdError when absent."""
        return self.catalogue.clause(clause_id)

    def sentence_vectors_of(self, clause_id: str, count: int) -> np.ndarray | None:
        """The stored vectors (float32) of the clause's ``count`` quotable sentences, in reading order; None
        when the index stores none or not that many (``indexer/sentence_vectors.py``)."""
        if self.sentence_vectors is None:
            return None
        return self.sentence_vectors.of_passages(self.catalogue.passage_rows_of(clause_id), count)

    def document(self, document_id: str) -> Document:
        """The document with ``document_id``; UnknownIdError when absent."""
        return self.catalogue.document(document_id)

    def documents(self) -> list[Document]:
        """Every document, in the order they were indexed."""
        return self.catalogue.documents()

    def clauses_of(self, document_id: str) -> list[Clause]:
        """The clauses of a document in reading order; UnknownIdError when absent."""
        return self.catalogue.clauses_of(document_id)

    def neighbours(self, clause_id: str) -> tuple[str | None, str | None]:
        """Ids of the previous and next clause in the same document (None at either end)."""
        return self.catalogue.neighbours(clause_id)


def _loaded_tokenizer(manifest: dict) -> Tokenizer:
    """The index's tokenizer with its jieba dictionary loaded now rather than on the first query."""
    tokenizer = manifest_tokenizer(manifest)
    tokenizer.tokenize("预热")
    return tokenizer


def read_catalogue(version: Path) -> Catalogue:
    """The catalogue of an index version: its documents, clauses, passages and references from SQLite."""
    with closing(store.connect(version)) as connection:
        return Catalogue(
            store.read_documents(connection),
            store.read_clause_table(connection),
            store.read_passage_clauses(connection),
            store.read_references(connection),
        )


def _superseded(version: Path) -> Callable[[], bool]:
    """Whether another version of the folder has been put in force since ``version`` (a pointer read)."""
    index_dir, name = version.parent.parent, version.name
    return lambda: store.version_in_force(index_dir) not in (None, name)


def _raise_unless_swapped(index_dir: Path, version: Path, error: Exception) -> None:
    """A version that vanished because a newer one was swapped in is retried; anything else is broken."""
    if store.current_version(index_dir) != version:
        return
    if isinstance(error, IndexCorruptError):
        raise error
    reason = f"{type(error).__name__}: {error}".replace(str(version), version.name)
    raise IndexCorruptError(
        f"index version {version.name} cannot be read ({' '.join(reason.split())}); rebuild it"
    ) from error


def _verification_error(verified: Future[int]) -> IndexCorruptError | None:
    """The checksum error of a version, once its verification is done; None when its files are intact."""
    try:
        verified.result()
    except IndexCorruptError as error:
        return error
    return None


def verify_index(index_dir: Path) -> dict:
    """Check the version in force on demand (``policyqa index --verify``), without loading the model: every
    file against its recorded size and checksum, SQLite's integrity check, the vectors finite and of unit
    length, one vector and one vector-store row per passage. IndexCorruptError (one line, no path) at the
    first problem; returns ``{"version", "files", "bytes", "seconds"}``."""
    started = time.perf_counter()
    version = store.current_version(Path(index_dir))
    try:
        manifest = store.read_manifest(version)
    except _UNREADABLE as error:
        raise damaged(version, f"{store.MANIFEST} cannot be read ({type(error).__name__})") from error
    check_format(Path(index_dir), manifest)
    if not manifest.get("files"):
        raise IndexCorruptError(
            f"index version {version.name} records no checksums (built before policyqa recorded them); "
            "rebuild it to record them"
        )
    checked = verify_files(version, manifest)
    try:
        with closing(store.connect(version)) as connection:
            problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            passages = connection.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        vectors = np.load(version / store.VECTORS)
        rows = np.load(version / "dense" / "rows.npy")
    except _UNREADABLE as error:
        raise damaged(version, f"cannot be read ({type(error).__name__})") from error
    if problems != ["ok"]:
        raise damaged(version, f"SQLite integrity check: {problems[0]}")
    if not len(vectors) == len(rows) == passages:
        raise damaged(version, f"{len(vectors):,} vectors and {len(rows):,} rows for {passages:,} passages")
    check_vectors(vectors)
    return {
        "version": version.name,
        "files": len(manifest["files"]),
        "bytes": checked,
        "seconds": round(time.perf_counter() - started, 3),
    }


def dated(filters: SearchFilters | None, settings: IndexSettings) -> SearchFilters:
    """``filters`` with the day whose versions a search keeps: its ``as_of``, else today
    (``POLICYQA_TODAY`` or the server's date)."""
    filters = filters or SearchFilters()
    return filters if filters.as_of else replace(filters, as_of=today(settings))


def validate_query(query: str, mode: str, k: int, max_chars: int) -> str:
    """The stripped query; InvalidQueryError for an empty query or one over ``max_chars`` characters, an
    unknown mode or a bad k. The one check of every search's and question's limits."""
    text = query.strip() if isinstance(query, str) else ""
    if not text:
        raise InvalidQueryError("the query is empty")
    if len(text) > max_chars:
        raise InvalidQueryError(f"the query is {len(text)} characters long; the limit is {max_chars}")
    if mode not in SEARCH_MODES:
        raise InvalidQueryError(f"unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidQueryError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return text
