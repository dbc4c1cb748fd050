"""Typed search inputs and results shared by the indexer, the service and eval."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from policyqa.corpus.model import Clause, Document

SearchMode = Literal["bm25", "dense", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = ("bm25", "dense", "hybrid")


@dataclass(frozen=True)
class SearchFilters:
    """Metadata filters; ``None`` means no constraint. Dates are ISO ``yyyy-mm-dd`` and inclusive;
    ``document_id`` searches inside one document; ``region`` matches with or without 省/市 (江苏 = 江苏省)."""

    document_id: str | None = None
    region: str | None = None
    issuer: str | None = None
    doc_type: str | None = None
    date_from: str | None = None
    date_to: str | None = None


@dataclass(frozen=True)
class Hit:
    """One clause found for a query, with how each retriever ranked and scored it (1-based ranks)."""

    clause: Clause
    document: Document
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # e.g. {"bm25": 3, "dense": 1}
    scores: dict[str, float] = field(default_factory=dict)
