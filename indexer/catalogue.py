"""The catalogue of a loaded index: its documents, clauses and passages, and the metadata filters.

Clauses are addressed by id across every seam; passage rows (the order of passage ids, which the BM25
matrix shares) stay inside this module and the retrievers that own a row-ordered structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from functools import cached_property, lru_cache

import numpy as np

from policyqa.corpus.model import Clause, Document
from policyqa.indexer.clause_table import ClauseTable
from policyqa.indexer.errors import InvalidQueryError, UnknownIdError
from policyqa.indexer.jurisdiction import same_region
from policyqa.indexer.records import Ranking, SearchFilters
from policyqa.indexer.references import CrossReferences
from policyqa.indexer.validity import Validity, ValidityTable
from policyqa.text import TextReference

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Catalogue:
    """Every document, clause and passage of an index version, held in memory (each clause built on first
    access: ``clause_table``)."""

    def __init__(
        self,
        documents: Sequence[Document],
        clauses: Sequence[Clause] | ClauseTable,
        passages: Sequence[tuple[int, str]],
        references: Mapping[str, Sequence[TextReference]] | None = None,
    ):
        """``clauses`` in document order (a :class:`ClauseTable` builds each on first access);
        ``passages`` are ``(passage id, clause id)`` pairs in ascending passage id order; ``references``
        the references stored for each clause (None: an index written before they were stored, scanned
        now)."""
        self._document_list = list(documents)
        self.validity = ValidityTable(documents)
        self._references = references
        self._documents = {document.id: document for document in documents}
        self.clause_table = clauses if isinstance(clauses, ClauseTable) else ClauseTable.of(clauses)
        self._clause_row = {clause_id: row for row, clause_id in enumerate(self.clause_table.ids)}
        self._document_clauses: dict[str, list[int]] = {document.id: [] for document in documents}
        for row, document_id in enumerate(self.clause_table.document_ids):
            self._document_clauses[document_id].append(row)
        self.regions = frozenset(document.region for document in documents if document.region)
        self.passage_ids = np.array([passage_id for passage_id, _clause in passages], dtype=np.int64)
        self._passage_clause = np.array(
            [self._clause_row[clause_id] for _passage, clause_id in passages], dtype=np.int64
        )
        document_row = {document.id: row for row, document in enumerate(documents)}
        self.clause_documents = np.fromiter(  # by clause row: the row of its document
            (document_row[document_id] for document_id in self.clause_table.document_ids),
            np.int64,
            len(self.clause_table),
        )
        self._passage_document = (
            self.clause_documents[self._passage_clause] if len(self.clause_table) else self._passage_clause
        )
        # the passage rows of clause row r: _clause_passages[_clause_passage_start[r] : …start[r + 1]]
        self._clause_passages = np.argsort(self._passage_clause, kind="stable")
        self._clause_passage_start = np.searchsorted(
            self._passage_clause[self._clause_passages], np.arange(len(self.clause_table) + 1)
        )

    # ---- lookups -----------------------------------------------------------------------------------

    def clause(self, clause_id: str) -> Clause:
        """The clause with ``clause_id``; UnknownIdError when absent."""
        return self.clause_table[self._row(clause_id)]

    def _row(self, clause_id: str) -> int:
        row = self._clause_row.get(clause_id)
        if row is None:
            raise UnknownIdError(f"no clause with id {clause_id!r}")
        return row

    def document(self, document_id: str) -> Document:
        """The document with ``document_id``; UnknownIdError when absent."""
        document = self._documents.get(document_id)
        if document is None:
            raise UnknownIdError(f"no document with id {document_id!r}")
        return document

    def clause_rows(self, clause_ids: Sequence[str]) -> np.ndarray:
        """The rows of clauses (their positions in :meth:`clauses`); UnknownIdError for an unknown id."""
        try:
            return np.fromiter(
                (self._clause_row[clause_id] for clause_id in clause_ids), np.int64, len(clause_ids)
            )
        except KeyError as error:
            raise UnknownIdError(f"no clause with id {error.args[0]!r}") from None

    def documents(self) -> list[Document]:
        """Every document, in the order they were indexed."""
        return list(self._document_list)

    @property
    def clause_count(self) -> int:
        """How many clauses the index holds."""
        return len(self.clause_table)

    def clauses_of(self, document_id: str) -> list[Clause]:
        """The clauses of a document in reading order; UnknownIdError when absent."""
        self.document(document_id)
        return [self.clause_table[row] for row in self._document_clauses[document_id]]

    def numbered(self, document_id: str) -> list[tuple[str, str]]:
        """``(clause id, number)`` of a document's clauses in reading order, without building them;
        UnknownIdError when absent."""
        self.document(document_id)
        ids, numbers = self.clause_table.ids, self.clause_table.numbers
        return [(ids[row], numbers[row]) for row in self._document_clauses[document_id]]

    def document_size(self, document_id: str) -> int:
        """How many clauses the document has; UnknownIdError when absent."""
        self.document(document_id)
        return len(self._document_clauses[document_id])

    def neighbours(self, clause_id: str) -> tuple[str | None, str | None]:
        """Ids of the previous and next clause in the same document (None at either end)."""
        row = self._row(clause_id)
        rows = self._document_clauses[self.clause_table.document_ids[row]]
        position = rows.index(row)
        previous = self.clause_table.ids[rows[position - 1]] if position > 0 else None
        following = self.clause_table.ids[rows[position + 1]] if position + 1 < len(rows) else None
        return previous, following

    def document_id_of(self, clause_id: str) -> str:
        """The id of the clause's document, without building the clause; UnknownIdError when absent."""
        return self.clause_table.document_ids[self._row(clause_id)]

    def region_of(self, clause_id: str) -> str | None:
        """The region of the clause's document (None for national documents)."""
        return self._documents[self.document_id_of(clause_id)].region

    def validity_on(self, document_id: str, day: str) -> Validity:
        """The validity of a document on ``day``; UnknownIdError when absent."""
        return self.validity.on(self.document(document_id).id, day)

    @cached_property
    def links(self) -> CrossReferences:
        """Every clause's references, resolved (computed on first use, once per index version)."""
        return CrossReferences(self, self._references)

    # ---- passages ----------------------------------------------------------------------------------

    def passage_rows(self, passage_ids: np.ndarray) -> np.ndarray:
        """The rows (positions in ``passage_ids``) of stored passage ids."""
        return np.searchsorted(self.passage_ids, passage_ids)

    def passages_of(self, clause_ids: Sequence[str]) -> np.ndarray:
        """The passage ids of these clauses, ascending; UnknownIdError for an unknown clause."""
        starts, passages = self._clause_passage_start, self._clause_passages
        rows = [passages[starts[row] : starts[row + 1]] for row in map(self._row, clause_ids)]
        return np.unique(self.passage_ids[np.concatenate(rows)]) if rows else self.passage_ids[:0]

    def passage_rows_of(self, clause_id: str) -> np.ndarray:
        """The rows (in the vectors' order) of the clause's passages, in window order; UnknownIdError for an
        unknown clause."""
        row = self._row(clause_id)
        return self._clause_passages[self._clause_passage_start[row] : self._clause_passage_start[row + 1]]

    def fold(self, passage_rows: np.ndarray, scores: np.ndarray) -> Ranking:
        """Passages (best first) → clauses (best passage per clause), as (clause id, score)."""
        clause_rows = self._passage_clause[passage_rows]
        _unique, first = np.unique(clause_rows, return_index=True)
        first.sort()
        ids = self.clause_table.ids
        return [(ids[clause_rows[i]], float(scores[i])) for i in first]

    def allowed_passages(self, filters: SearchFilters | None) -> np.ndarray | None:
        """Boolean mask over passage rows that pass ``filters`` (read-only: a day's mask is computed once
        and shared); None when nothing is excluded. UnknownIdError for an unknown ``document_id``,
        InvalidQueryError for a date that is not one."""
        if not self.check_filters(filters):
            return None
        day = filters.as_of if not filters.include_history else None
        if replace(filters, as_of=None, include_history=None) == SearchFilters():  # every search's own day
            return None if day is None else self._in_force_passages(day)
        allowed_documents = np.array(
            [passes(document, filters) for document in self._document_list], dtype=bool
        )
        if day is not None:
            allowed_documents &= self._in_force(day)
        if allowed_documents.all():
            return None  # nothing excluded: the retrievers' unfiltered (faster) path
        return allowed_documents[self._passage_document]

    def check_filters(self, filters: SearchFilters | None) -> bool:
        """Whether ``filters`` constrain anything; UnknownIdError for an unknown ``document_id``,
        InvalidQueryError for a date that is not one (every store checks filters here)."""
        if filters is None or filters == SearchFilters():
            return False
        if filters.document_id is not None:
            self.document(filters.document_id)  # UnknownIdError: say so rather than find nothing
        for bound in (filters.date_from, filters.date_to, filters.as_of):
            if bound is not None and not _is_iso_date(bound):
                raise InvalidQueryError(f"dates must be real yyyy-mm-dd dates, got {bound!r}")
        return True

    def not_in_force(self, filters: SearchFilters | None) -> list[str]:
        """Ids of the documents ``filters`` exclude as not in force on ``filters.as_of`` (none when every
        version is wanted): what a store that filters by expression leaves out."""
        if filters is None or filters.as_of is None or filters.include_history:
            return []
        in_force = self._in_force(filters.as_of)
        return [document.id for document, kept in zip(self._document_list, in_force, strict=True) if not kept]

    def fold_known(self, passage_ids: np.ndarray, scores: np.ndarray) -> Ranking:
        """Like ``fold``, from passage ids (best first); ids this catalogue does not hold (written by
        another replica since it was loaded) are left out."""
        rows = self.passage_rows(passage_ids)
        known = rows < len(self.passage_ids)
        known[known] = self.passage_ids[rows[known]] == passage_ids[known]
        return self.fold(rows[known], scores[known])

    @lru_cache(maxsize=16)  # noqa: B019 - one catalogue per index version, a handful of days
    def _in_force(self, day: str) -> np.ndarray:
        """Boolean mask over documents: in force on ``day``."""
        return np.array(
            [self.validity.in_force(document.id, day) for document in self._document_list], dtype=bool
        )

    @lru_cache(maxsize=16)  # noqa: B019 - as above: every search carries its day, so this is computed once a day
    def _in_force_passages(self, day: str) -> np.ndarray | None:
        """Read-only boolean mask over passage rows: in force on ``day``; None when every one is."""
        in_force = self._in_force(day)
        if in_force.all():
            return None
        mask = in_force[self._passage_document]
        mask.flags.writeable = False
        return mask


def _is_iso_date(text: str) -> bool:
    """True for a valid calendar date written ``yyyy-mm-dd``."""
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def passes(document: Document, filters: SearchFilters) -> bool:
    """Whether ``document`` passes ``filters`` (what a filtered search keeps)."""
    if filters.document_ids is not None and document.id not in filters.document_ids:
        return False
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
