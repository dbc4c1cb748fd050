"""The clauses of an index version by row, each built on first access.

Building 73k ``Clause`` objects (two JSON columns, a ``Span`` per part) was half an index's cold load; a
search needs only a few dozen of them, and the catalogue's own bookkeeping needs only the columns held here
(id, document, number, text length).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

import numpy as np

from policyqa.corpus.model import Clause

Row = TypeVar("Row")


class ClauseTable(Generic[Row]):
    """Clauses by row: ``ids``, ``document_ids``, ``numbers`` and ``text_lengths`` as columns; ``table[row]``
    builds the clause from its stored row once (thread-safe: two threads building the same row get equal
    clauses, one of which is kept)."""

    def __init__(
        self,
        rows: Sequence[Row],
        build: Callable[[Row], Clause],
        *,
        ids: list[str],
        document_ids: list[str],
        numbers: list[str],
        text_lengths: np.ndarray,
    ):
        self._entries: list[Row | Clause] = list(rows)
        self._build = build
        self.ids = ids
        self.document_ids = document_ids
        self.numbers = numbers
        self.text_lengths = text_lengths

    @classmethod
    def of(cls, clauses: Iterable[Clause]) -> ClauseTable[Clause]:
        """A table of clauses already built (a parse, a Milvus collection, a test)."""
        clauses = list(clauses)
        return cls(
            clauses,
            lambda clause: clause,
            ids=[clause.id for clause in clauses],
            document_ids=[clause.document_id for clause in clauses],
            numbers=[clause.number for clause in clauses],
            text_lengths=np.fromiter((len(clause.text) for clause in clauses), np.int64, len(clauses)),
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, row: int) -> Clause:
        entry = self._entries[row]
        if isinstance(entry, Clause):
            return entry
        clause = self._entries[row] = self._build(entry)
        return clause
