"""Fusion strategies on hand-computed cases."""

from __future__ import annotations

import pytest

from policyqa.indexer.fusion import best_possible_score, fuse, min_max_fusion, reciprocal_rank_fusion


def test_rrf_sums_reciprocal_ranks() -> None:
    rankings = {"bm25": [("a", 9.0), ("b", 5.0)], "dense": [("b", 0.9), ("c", 0.8)]}
    fused = dict(reciprocal_rank_fusion(rankings, {}, k=60))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)
    assert [item for item, _ in reciprocal_rank_fusion(rankings, {}, k=60)] == ["b", "a", "c"]


def test_rrf_weights_and_ties() -> None:
    rankings = {"bm25": [("a", 1.0)], "dense": [("b", 1.0)]}
    assert [item for item, _ in reciprocal_rank_fusion(rankings, {"bm25": 1.0, "dense": 2.0})] == ["b", "a"]
    assert [item for item, _ in reciprocal_rank_fusion(rankings, {})] == ["a", "b"]  # tie: first seen first
    assert reciprocal_rank_fusion(rankings, {"bm25": 0.0, "dense": 1.0})[-1] == ("a", 0.0)


def test_min_max_scales_per_retriever_and_handles_equal_scores() -> None:
    rankings = {"bm25": [("a", 10.0), ("b", 5.0), ("c", 0.0)], "dense": [("c", 0.7), ("d", 0.7)]}
    fused = dict(min_max_fusion(rankings, {}))
    assert fused == {"a": 1.0, "b": 0.5, "c": 1.0, "d": 1.0}
    assert min_max_fusion({"bm25": []}, {}) == []


def test_min_max_window_makes_the_order_independent_of_the_candidate_depth() -> None:
    bm25 = [("a", 9.0), ("b", 6.0), ("c", 3.0), ("d", 1.0)]
    dense = [("c", 0.9), ("a", 0.8), ("b", 0.7), ("d", 0.1)]
    shallow = min_max_fusion({"bm25": bm25[:3], "dense": dense[:3]}, {}, window=3)
    deep = min_max_fusion({"bm25": bm25, "dense": dense}, {}, window=3)
    assert [item for item, _ in deep][:3] == [item for item, _ in shallow]
    assert dict(deep)["d"] == 0.0  # below both windows


def test_fuse_by_name() -> None:
    rankings = {"bm25": [("a", 2.0)], "dense": [("a", 0.5)]}
    assert fuse(rankings, {}, strategy="rrf", rrf_k=10) == [("a", pytest.approx(2 / 11))]
    assert fuse(rankings, {}, strategy="minmax") == [("a", 2.0)]
    with pytest.raises(ValueError, match="rrf, minmax"):
        fuse(rankings, {}, strategy="borda")


@pytest.mark.parametrize(("strategy", "rrf_k"), [("minmax", 60), ("rrf", 60), ("rrf", 10)])
def test_best_possible_score_is_what_an_item_first_everywhere_gets(strategy: str, rrf_k: int) -> None:
    rankings = {"bm25": [("a", 9.0), ("b", 5.0), ("c", 1.0)], "dense": [("a", 0.9), ("c", 0.5), ("b", 0.4)]}
    weights = {"bm25": 1.5, "dense": 0.5}
    fused = fuse(rankings, weights, strategy=strategy, rrf_k=rrf_k)
    assert fused[0] == ("a", pytest.approx(best_possible_score(weights, strategy=strategy, rrf_k=rrf_k)))
