"""Typed search inputs and results shared by the indexer, the service and eval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from policyqa.corpus.model import Clause, Document

SearchMode = Literal["bm25", "dense", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = ("bm25", "dense", "hybrid")

Ranking = list[tuple[str, float]]  # (clause id, score), best first
MAX_K = 100  # the most clauses one search returns (the API, the CLI and eval alike)


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


class Query:
    """A query's text and its embedding, computed on first use and then shared by every stage and the
    answerer (one embedding per request)."""

    def __init__(self, text: str, embed: Callable[[str], np.ndarray]):
        self.text = text
        self._embed = embed

    @cached_property
    def vector(self) -> np.ndarray:
        """The L2-normalised query embedding."""
        return self._embed(self.text)


@dataclass(frozen=True)
class SearchRequest:
    """One search as the pipeline runs it: ``depth`` candidates per retriever; ``home_region`` is where
    the asker is (None or blank: the configured home region)."""

    query: Query
    mode: SearchMode = "hybrid"
    depth: int = 100
    filters: SearchFilters | None = None
    home_region: str | None = None


@dataclass(frozen=True)
class Hit:
    """One clause found for a query, with how each retriever ranked and scored it (1-based ranks)."""

    clause: Clause
    document: Document
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # e.g. {"bm25": 3, "dense": 1}
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Retrieval:
    """What a search found, with the query (and so its vector) it was run for."""

    query: Query
    hits: list[Hit]
