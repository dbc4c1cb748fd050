"""Fusion strategies on hand-computed cases."""

from __future__ import annotations

import pytest

from policyqa.indexer.fusion import (
    FUSION_STRATEGIES,
    MinMaxFusion,
    ReciprocalRankFusion,
    fusion_from_settings,
)
from policyqa.indexer.settings import IndexSettings


def items(ranking: list[tuple[str, float]]) -> list[str]:
    return [item for item, _score in ranking]


def test_rrf_sums_reciprocal_ranks() -> None:
    rankings = {"bm25": [("a", 9.0), ("b", 5.0)], "dense": [("b", 0.9), ("c", 0.8)]}
    fused = dict(ReciprocalRankFusion({}, k=60).fuse(rankings))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)
    assert items(ReciprocalRankFusion({}, k=60).fuse(rankings)) == ["b", "a", "c"]


def test_rrf_weights_and_ties() -> None:
    rankings = {"bm25": [("a", 1.0)], "dense": [("b", 1.0)]}
    assert items(ReciprocalRankFusion({"bm25": 1.0, "dense": 2.0}).fuse(rankings)) == ["b", "a"]
    assert items(ReciprocalRankFusion({}).fuse(rankings)) == ["a", "b"]  # tie: first seen first
    assert ReciprocalRankFusion({"bm25": 0.0, "dense": 1.0}).fuse(rankings)[-1] == ("a", 0.0)


def test_min_max_scales_per_retriever_and_handles_equal_scores() -> None:
    rankings = {"bm25": [("a", 10.0), ("b", 5.0), ("c", 0.0)], "dense": [("c", 0.7), ("d", 0.7)]}
    assert dict(MinMaxFusion({}).fuse(rankings)) == {"a": 1.0, "b": 0.5, "c": 1.0, "d": 1.0}
    assert MinMaxFusion({}).fuse({"bm25": []}) == []


def test_min_max_window_makes_the_order_independent_of_the_candidate_depth() -> None:
    bm25 = [("a", 9.0), ("b", 6.0), ("c", 3.0), ("d", 1.0)]
    dense = [("c", 0.9), ("a", 0.8), ("b", 0.7), ("d", 0.1)]
    fusion = MinMaxFusion({}, window=3)
    shallow = fusion.fuse({"bm25": bm25[:3], "dense": dense[:3]})
    deep = fusion.fuse({"bm25": bm25, "dense": dense})
    assert items(deep)[:3] == items(shallow)
    assert dict(deep)["d"] == 0.0  # below both windows


def test_strategies_by_setting() -> None:
    rankings = {"bm25": [("a", 2.0)], "dense": [("a", 0.5)]}
    rrf = fusion_from_settings(IndexSettings(fusion="rrf", rrf_k=10, bm25_weight=1.5))
    assert rrf.fuse(rankings) == [("a", pytest.approx(2.5 / 11))]
    minmax = fusion_from_settings(IndexSettings(fusion="minmax", bm25_weight=1.5))
    assert minmax.fuse(rankings) == [("a", 2.5)]
    with pytest.raises(ValueError, match="minmax, rrf"):
        FUSION_STRATEGIES.resolve("borda")


@pytest.mark.parametrize(
    "fusion",
    [
        MinMaxFusion({"bm25": 1.5, "dense": 0.5}),
        *(ReciprocalRankFusion({"bm25": 1.5, "dense": 0.5}, k=k) for k in (60, 10)),
    ],
)
def test_best_possible_score_is_what_an_item_first_everywhere_gets(
    fusion: MinMaxFusion | ReciprocalRankFusion,
) -> None:
    rankings = {"bm25": [("a", 9.0), ("b", 5.0), ("c", 1.0)], "dense": [("a", 0.9), ("c", 0.5), ("b", 0.4)]}
    assert fusion.fuse(rankings)[0] == ("a", pytest.approx(fusion.best_possible_score()))
