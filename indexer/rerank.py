"""The re-rank seam: an optional last stage that re-scores the top fused candidates.

Re-rankers register in ``RERANKERS`` under the name the ``POLICYQA_RERANK`` setting gives; each is a
class built with ``(settings, catalogue, model_id, vectors)`` (the catalogue holds the clause texts;
``model_id`` is the index's embedding model; ``vectors`` the index's passage vectors, for a re-ranker that
brings candidates of its own). ``learned`` (the default) is the trained ranker over the retrieval signals
(``policyqa.indexer.learned_ranker``), ``off`` keeps the fused order, ``on`` is the cross-encoder
(``policyqa.indexer.cross_encoder``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from policyqa.indexer.records import Ranking, SearchRequest
from policyqa.registry import Registry

if TYPE_CHECKING:
    from policyqa.indexer.catalogue import Catalogue
    from policyqa.indexer.settings import IndexSettings
    from policyqa.indexer.vector_store import VectorStore

RERANKERS = Registry(
    "re-ranker",
    {
        "learned": "policyqa.indexer.learned_ranker:LearnedReranker",
        "off": "policyqa.indexer.rerank:KeepOrder",
        "on": "policyqa.indexer.cross_encoder:CrossEncoderReranker",
    },
)


class Reranker(Protocol):
    """Re-orders (and may re-score) a fused ranking; ``depth``: how many candidates it needs each retriever
    to rank (0: as many as the search asks for)."""

    depth: int

    def widen(self, request: SearchRequest, rankings: Mapping[str, Ranking]) -> Mapping[str, Ranking]:
        """The retrievers' ``rankings`` with any candidates this re-ranker wants to score too, appended
        below a retriever's own (before fusion: the adjust stages see them like any other)."""
        ...

    def rerank(self, request: SearchRequest, ranking: Ranking, rankings: Mapping[str, Ranking]) -> Ranking:
        """The fused ``ranking`` in its new order, best first; ``rankings`` are the retrievers' own."""
        ...


class KeepOrder:
    """The identity re-ranker: the fused order stands."""

    depth = 0

    def __init__(self, settings: IndexSettings, catalogue: Catalogue, model_id: str, vectors: VectorStore):
        """Takes what every re-ranker is built with; needs none of it."""

    def widen(self, request: SearchRequest, rankings: Mapping[str, Ranking]) -> Mapping[str, Ranking]:
        return rankings

    def rerank(self, request: SearchRequest, ranking: Ranking, rankings: Mapping[str, Ranking]) -> Ranking:
        return ranking
