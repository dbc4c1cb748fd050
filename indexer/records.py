"""Typed search inputs and results shared by the indexer, the service and eval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields
from functools import cached_property
from typing import Any, Literal

import numpy as np

from policyqa.corpus.model import Clause, Document
from policyqa.indexer.validity import Validity

SearchMode = Literal["bm25", "dense", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = ("bm25", "dense", "hybrid")

Ranking = list[tuple[str, float]]  # (clause id, score), best first
MAX_K = 100  # the most clauses one search returns (the API, the CLI and eval alike)


def _filter(
    help: str, example: str, *, flag: str | None = None, is_date: bool = False, is_switch: bool = False
) -> Any:
    """A filter field: its help text and example, its command-line flag (default ``--name-with-dashes``),
    whether it is a date (typed as one by the API) and whether it is a switch (a flag without a value on the
    command line, a boolean in the API)."""
    return field(
        default=None,
        metadata={"help": help, "example": example, "flag": flag, "is_date": is_date, "is_switch": is_switch},
    )


@dataclass(frozen=True)
class SearchFilters:
    """Metadata filters; ``None`` means no constraint. Dates are ISO ``yyyy-mm-dd`` and inclusive;
    ``document_id`` searches inside one document; ``region`` matches with or without 省/市 (江苏 = 江苏省);
    ``document_ids`` keeps only these documents (a set chosen by a condition richer than the other fields).
    Versions: a search keeps the versions in force on ``as_of`` (None: today, ``policyqa.indexer.validity``);
    ``include_history`` keeps every version (each labelled with its status on that day).

    Defined here once: the CLI's filter options and the API's filter parameters derive from the fields set by
    name (``filter_fields``)."""

    document_id: str | None = _filter(
        "only clauses of this document (its id)", "f0e25f4cd2aa2725", flag="--document"
    )
    region: str | None = _filter("only documents of this region (江苏 = 江苏省)", "江苏省")
    issuer: str | None = _filter("only documents of this issuer", "江苏省人民政府")
    doc_type: str | None = _filter("only documents of this type (意见, 通知, 办法, 条例…)", "意见")
    date_from: str | None = _filter(
        "only documents dated on or after (yyyy-mm-dd)", "2018-01-01", is_date=True
    )
    date_to: str | None = _filter(
        "only documents dated on or before (yyyy-mm-dd)", "2018-12-31", is_date=True
    )
    as_of: str | None = _filter(
        "only versions in force on this day (yyyy-mm-dd; default today)", "2024-03-01", is_date=True
    )
    include_history: bool | None = _filter(
        "every version, in force or not, each labelled with its status",
        "true",
        flag="--history",
        is_switch=True,
    )
    document_ids: frozenset[str] | None = field(default=None, metadata={"named": False})


def filter_fields() -> tuple[Field, ...]:
    """The filters set by name: the CLI's options and the API's parameters (``document_ids`` is not one)."""
    return tuple(entry for entry in fields(SearchFilters) if entry.metadata.get("named", True))


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
    """One clause found for a query, with how each retriever ranked and scored it (1-based ranks) and its
    relevance: the probability that it answers the query (``policyqa.indexer.relevance``; None when the
    index's model has no fitted relevance model). ``score`` only orders the hits of one search."""

    clause: Clause
    document: Document
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # e.g. {"bm25": 3, "dense": 1}
    scores: dict[str, float] = field(default_factory=dict)
    relevance: float | None = None
    validity: Validity | None = None


@dataclass(frozen=True)
class Retrieval:
    """What a search found, with the query (and so its vector) it was run for."""

    query: Query
    hits: list[Hit]
