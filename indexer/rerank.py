"""The re-rank seam: an optional last stage that re-scores the top fused candidates.

Re-rankers register in ``RERANKERS`` under the name the ``POLICYQA_RERANK`` setting gives; each is a
class built with ``(settings, catalogue, model_id)`` (the catalogue holds the clause texts; ``model_id`` is
the index's embedding model). ``learned`` (the default) is the trained ranker over the retrieval signals
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

    def rerank(self, request: SearchRequest, ranking: Ranking, rankings: Mapping[str, Ranking]) -> Ranking:
        """The fused ``ranking`` in its new order, best first; ``rankings`` are the retrievers' own."""
        ...


class KeepOrder:
    """The identity re-ranker: the fused order stands."""

    depth = 0

    def __init__(self, settings: IndexSettings, catalogue: Catalogue, model_id: str):
        """Takes what every re-ranker is built with; needs none of it."""

    def rerank(self, request: SearchRequest, ranking: Ranking, rankings: Mapping[str, Ranking]) -> Ranking:
        return ranking
