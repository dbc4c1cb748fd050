"""Retrieval as a pipeline of typed stages: retrievers → fusion → adjust stages → re-rank.

Every stage is chosen by a setting through a registry, so a new retriever backend, fusion strategy,
adjust stage or re-ranker is one module plus one registration:

- retrievers (``policyqa.indexer.retrievers``) rank clauses on their own; ``bm25`` and ``dense`` modes
  return one retriever's ranking as it is;
- ``hybrid`` fuses them (``policyqa.indexer.fusion``, ``POLICYQA_FUSION`` and the weights), then runs
  each registered adjust stage in order (``ADJUST_STAGES``: today the region step-back), then the
  re-ranker (``policyqa.indexer.rerank``, ``POLICYQA_RERANK``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.fusion import Fusion, fusion_from_settings
from policyqa.indexer.records import Ranking, SearchRequest
from policyqa.indexer.rerank import RERANKERS, Reranker
from policyqa.indexer.retrievers import Retriever
from policyqa.indexer.settings import IndexSettings
from policyqa.registry import Registry

# Applied in this order to every hybrid ranking; each is built with (settings, catalogue).
ADJUST_STAGES = Registry("adjust stage", {"region_step_back": "policyqa.indexer.jurisdiction:RegionStepBack"})


class AdjustStage(Protocol):
    """Moves fused scores for a reason the retrievers cannot see (place, validity, …)."""

    def adjust(self, request: SearchRequest, ranking: Ranking) -> Ranking:
        """The ranking with adjusted scores, re-sorted best first."""
        ...


class RetrievalPipeline:
    """The stages of one index: retrievers by name, fusion, adjust stages and a re-ranker."""

    def __init__(
        self,
        retrievers: Mapping[str, Retriever],
        fusion: Fusion,
        adjust_stages: Sequence[AdjustStage],
        reranker: Reranker,
    ):
        self.retrievers = dict(retrievers)
        self.fusion = fusion
        self.adjust_stages = tuple(adjust_stages)
        self.reranker = reranker

    @classmethod
    def from_settings(
        cls, settings: IndexSettings, catalogue: Catalogue, retrievers: Sequence[Retriever], model_id: str
    ) -> RetrievalPipeline:
        """The pipeline ``settings`` describe over ``retrievers`` of an index embedded with ``model_id``."""
        return cls(
            {retriever.name: retriever for retriever in retrievers},
            fusion_from_settings(settings),
            [ADJUST_STAGES.resolve(name)(settings, catalogue) for name in ADJUST_STAGES.names],
            RERANKERS.resolve(settings.rerank)(settings, catalogue, model_id),
        )

    def rankings(self, request: SearchRequest) -> dict[str, Ranking]:
        """Each retriever's ranking the mode asks for (both for hybrid), ``request.depth`` deep (for hybrid
        at least as deep as the re-ranker needs)."""
        if request.mode != "hybrid":
            return {
                request.mode: self.retrievers[request.mode].search(
                    request.query, request.depth, request.filters
                )
            }
        depth = max(request.depth, self.reranker.depth)
        return {
            name: retriever.search(request.query, depth, request.filters)
            for name, retriever in self.retrievers.items()
        }

    def combine(self, request: SearchRequest, rankings: Mapping[str, Ranking]) -> Ranking:
        """The final ranking from the retrievers' rankings: as it is for one retriever; fused, adjusted and
        re-ranked for hybrid."""
        if request.mode != "hybrid":
            return list(rankings[request.mode])
        ranking = self.fusion.fuse(rankings)
        for stage in self.adjust_stages:
            ranking = stage.adjust(request, ranking)
        return self.reranker.rerank(request, ranking, rankings)
