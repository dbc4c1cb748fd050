"""The re-rank seam: an optional last stage that re-scores the top fused candidates.

Re-rankers register in ``RERANKERS`` under the name the ``POLICYQA_RERANK`` setting gives; each is a
class built with ``(settings, catalogue)`` (a cross-encoder reads the clause texts from the catalogue).
``off`` keeps the fused order; ``on`` is the cross-encoder (``policyqa.indexer.cross_encoder``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from policyqa.indexer.records import Ranking, SearchRequest
from policyqa.registry import Registry

if TYPE_CHECKING:
    from policyqa.indexer.catalogue import Catalogue
    from policyqa.indexer.settings import IndexSettings

RERANKERS = Registry(
    "re-ranker",
    {"off": "policyqa.indexer.rerank:KeepOrder", "on": "policyqa.indexer.cross_encoder:CrossEncoderReranker"},
)


class Reranker(Protocol):
    """Re-orders (and may re-score) a fused ranking."""

    def rerank(self, request: SearchRequest, ranking: Ranking) -> Ranking:
        """The ranking in its new order, best first."""
        ...


class KeepOrder:
    """The identity re-ranker: the fused order stands."""

    def __init__(self, settings: IndexSettings, catalogue: Catalogue):
        """Takes what every re-ranker is built with; needs none of it."""

    def rerank(self, request: SearchRequest, ranking: Ranking) -> Ranking:
        return ranking
