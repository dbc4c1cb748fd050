"""Fusion strategies: combine per-retriever rankings of clause ids into one ranking.

Each strategy takes ``{retriever: [(clause_id, score), …best first]}`` plus per-retriever weights and
returns ``[(clause_id, fused_score), …]`` best first. Ties keep the order of first appearance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Ranking = Sequence[tuple[str, float]]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float], *, k: int = 60
) -> list[tuple[str, float]]:
    """Weighted RRF: ``Σ weight_r / (k + rank_r)`` over the retrievers that found the item (ranks from 1)."""
    fused: dict[str, float] = {}
    for retriever, ranking in rankings.items():
        weight = weights.get(retriever, 1.0)
        for rank, (item, _score) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return _sorted(fused)


def min_max_fusion(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float], *, window: int = 100
) -> list[tuple[str, float]]:
    """Weighted sum of scores scaled per retriever to [0, 1] between its best score and its ``window``-th
    best (lower scores count as 0; all-equal scores as 1). The fixed window keeps the scaling, and so the
    order, independent of how many candidates were fetched."""
    fused: dict[str, float] = {}
    for retriever, ranking in rankings.items():
        if not ranking:
            continue
        weight = weights.get(retriever, 1.0)
        scores = [score for _item, score in ranking[:window]]
        low, spread = min(scores), max(scores) - min(scores)
        for item, score in ranking:
            scaled = max(0.0, (score - low) / spread) if spread > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + weight * scaled
    return _sorted(fused)


def _sorted(fused: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(
        fused.items(), key=lambda entry: entry[1], reverse=True
    )  # stable: first appearance wins ties


FUSION_STRATEGIES = ("rrf", "minmax")


def best_possible_score(weights: Mapping[str, float], *, strategy: str, rrf_k: int = 60) -> float:
    """The fused score of an item every retriever ranks first (its scores the best of the ranking)."""
    total = sum(weights.values())
    return total if strategy == "minmax" else total / (rrf_k + 1)


def fuse(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float], *, strategy: str = "rrf", rrf_k: int = 60
) -> list[tuple[str, float]]:
    """Combine ``rankings`` with the named strategy (one of ``FUSION_STRATEGIES``)."""
    if strategy == "rrf":
        return reciprocal_rank_fusion(rankings, weights, k=rrf_k)
    if strategy == "minmax":
        return min_max_fusion(rankings, weights)
    raise ValueError(f"unknown fusion strategy {strategy!r}; choose one of {', '.join(FUSION_STRATEGIES)}")
