"""Fusion strategies: combine per-retriever rankings of clause ids into one ranking.

Each strategy takes ``{retriever: [(clause_id, score), …best first]}`` with per-retriever weights and
returns ``[(clause_id, fused_score), …]`` best first; ties keep the order of first appearance. Strategies
register in ``FUSION_STRATEGIES`` under the name the ``POLICYQA_FUSION`` setting gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from policyqa.registry import Registry

if TYPE_CHECKING:
    from policyqa.indexer.settings import IndexSettings

Ranking = Sequence[tuple[str, float]]
MIN_MAX_WINDOW = 100  # min-max scales each retriever between its best and its 100th-best score

FUSION_STRATEGIES = Registry(
    "fusion strategy",
    {
        "minmax": "policyqa.indexer.fusion:MinMaxFusion",
        "rrf": "policyqa.indexer.fusion:ReciprocalRankFusion",
    },
)


class Fusion(Protocol):
    """A named way of fusing rankings, with its weights."""

    weights: Mapping[str, float]

    def fuse(self, rankings: Mapping[str, Ranking]) -> list[tuple[str, float]]:
        """The fused ranking, best first."""
        ...

    def best_possible_score(self) -> float:
        """The fused score of an item every retriever ranks first."""
        ...


class MinMaxFusion:
    """Weighted sum of scores scaled per retriever to [0, 1] between its best score and its
    ``window``-th best (lower scores count as 0; all-equal scores as 1). The fixed window keeps the
    scaling, and so the order, independent of how many candidates were fetched."""

    def __init__(self, weights: Mapping[str, float], *, window: int = MIN_MAX_WINDOW):
        self.weights = weights
        self.window = window

    @classmethod
    def from_settings(cls, settings: IndexSettings) -> MinMaxFusion:
        return cls(retriever_weights(settings))

    def fuse(self, rankings: Mapping[str, Ranking]) -> list[tuple[str, float]]:
        fused: dict[str, float] = {}
        for retriever, ranking in rankings.items():
            if not ranking:
                continue
            weight = self.weights.get(retriever, 1.0)
            scores = [score for _item, score in ranking[: self.window]]
            low, spread = min(scores), max(scores) - min(scores)
            for item, score in ranking:
                scaled = max(0.0, (score - low) / spread) if spread > 0 else 1.0
                fused[item] = fused.get(item, 0.0) + weight * scaled
        return _sorted(fused)

    def best_possible_score(self) -> float:
        return sum(self.weights.values())


class ReciprocalRankFusion:
    """Weighted RRF: ``Σ weight_r / (k + rank_r)`` over the retrievers that found the item (ranks from 1)."""

    def __init__(self, weights: Mapping[str, float], *, k: int = 60):
        self.weights = weights
        self.k = k

    @classmethod
    def from_settings(cls, settings: IndexSettings) -> ReciprocalRankFusion:
        return cls(retriever_weights(settings), k=settings.rrf_k)

    def fuse(self, rankings: Mapping[str, Ranking]) -> list[tuple[str, float]]:
        fused: dict[str, float] = {}
        for retriever, ranking in rankings.items():
            weight = self.weights.get(retriever, 1.0)
            for rank, (item, _score) in enumerate(ranking, start=1):
                fused[item] = fused.get(item, 0.0) + weight / (self.k + rank)
        return _sorted(fused)

    def best_possible_score(self) -> float:
        return sum(self.weights.values()) / (self.k + 1)


def retriever_weights(settings: IndexSettings) -> dict[str, float]:
    """Each retriever's weight in fusion, as the settings give them."""
    return {"bm25": settings.bm25_weight, "dense": settings.dense_weight}


def fusion_from_settings(settings: IndexSettings) -> Fusion:
    """The fusion strategy ``settings.fusion`` names, with the configured weights."""
    return FUSION_STRATEGIES.resolve(settings.fusion).from_settings(settings)


def _sorted(fused: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(fused.items(), key=lambda entry: entry[1], reverse=True)  # stable: first appearance wins
