"""Retrieval as a pipeline of typed stages: retrievers → fusion → adjust stages → re-rank.

Every stage is chosen by a setting through a registry, so a new retriever backend, fusion strategy,
adjust stage or re-ranker is one module plus one registration:

- retrievers (``policyqa.indexer.retrievers``) rank clauses on their own; ``bm25`` and ``dense`` modes
  return one retriever's ranking as it is;
- ``hybrid`` lets the re-ranker add candidates of its own to the retrievers' rankings (``widen``; the
  learned ranker: articles that answered train questions, nearest the question), fuses them
  (``policyqa.indexer.fusion``, ``POLICYQA_FUSION`` and the weights), then runs
  each registered adjust stage in order (``ADJUST_STAGES``: today the region step-back), then the
  re-ranker (``policyqa.indexer.rerank``, ``POLICYQA_RERANK``), which orders candidates only among those
  the adjust stages moved alike (``keep_standing``).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from typing import Protocol

from policyqa.indexer.catalogue import Catalogue
from policyqa.indexer.fusion import Fusion, fusion_from_settings
from policyqa.indexer.records import Ranking, SearchRequest
from policyqa.indexer.rerank import RERANKERS, Reranker
from policyqa.indexer.retrievers import Retriever
from policyqa.indexer.settings import IndexSettings
from policyqa.indexer.vector_store import VectorStore
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
        cls,
        settings: IndexSettings,
        catalogue: Catalogue,
        retrievers: Sequence[Retriever],
        model_id: str,
        vectors: VectorStore,
    ) -> RetrievalPipeline:
        """The pipeline ``settings`` describe over ``retrievers`` of an index embedded with ``model_id``."""
        return cls(
            {retriever.name: retriever for retriever in retrievers},
            fusion_from_settings(settings),
            [ADJUST_STAGES.resolve(name)(settings, catalogue) for name in ADJUST_STAGES.names],
            RERANKERS.resolve(settings.rerank)(settings, catalogue, model_id, vectors),
        )

    def rankings(self, request: SearchRequest) -> dict[str, Ranking]:
        """Each retriever's ranking the mode asks for (both for hybrid), ``request.depth`` deep (for hybrid
        at least as deep as the re-ranker needs, with the candidates it adds)."""
        if request.mode != "hybrid":
            return {
                request.mode: self.retrievers[request.mode].search(
                    request.query, request.depth, request.filters
                )
            }
        depth = max(request.depth, self.reranker.depth)
        rankings = {
            name: retriever.search(request.query, depth, request.filters)
            for name, retriever in self.retrievers.items()
        }
        return dict(self.reranker.widen(request, rankings))

    def combine(self, request: SearchRequest, rankings: Mapping[str, Ranking]) -> Ranking:
        """The final ranking from the retrievers' rankings: as it is for one retriever; fused, adjusted and
        re-ranked for hybrid."""
        if request.mode != "hybrid":
            return list(rankings[request.mode])
        fused = self.fusion.fuse(rankings)
        ranking = fused
        for stage in self.adjust_stages:
            ranking = stage.adjust(request, ranking)
        return keep_standing(ranking, self.reranker.rerank(request, ranking, rankings), fused)


def keep_standing(adjusted: Ranking, reranked: Ranking, fused: Ranking) -> Ranking:
    """``reranked`` without undoing the adjust stages: each candidate the re-ranker moved goes back among the
    places that candidates moved alike by the adjust stages (the same amount of score, from ``fused`` to
    ``adjusted``) left, in the re-ranker's order; a candidate it did not move keeps its place; each place
    keeps its score. A stepped-back local article stays behind the national ones it was put behind, and a
    home region's article stays ahead of what it was boosted past."""
    if reranked is adjusted:  # nothing re-ordered (the re-ranker off, a look-up query)
        return reranked
    before = dict(fused)
    standing = {item: round(score - before[item], 9) for item, score in adjusted}
    if len(set(standing.values())) < 2 or {item for item, _score in reranked} != standing.keys():
        return reranked
    moved = [reranked[place][0] != item for place, (item, _score) in enumerate(adjusted)]
    queues: dict[float, deque[str]] = defaultdict(deque)
    for place, (item, _score) in enumerate(reranked):
        if moved[place]:  # a place the re-ranker filled anew, with an item that moved
            queues[standing[item]].append(item)
    return [
        (queues[standing[held]].popleft() if moved[place] else held, score)
        for place, ((held, _adjusted), (_item, score)) in enumerate(zip(adjusted, reranked, strict=True))
    ]
