"""Ranking metrics on hand-made rankings with known answers."""

import math

import pytest

from policyqa.eval.metrics import (
    first_relevant_rank,
    latency_summary,
    mean_metrics,
    ndcg_at_k,
    percentile,
    query_metrics,
    recall_at_k,
    reciprocal_rank_at_k,
)

RANKED = ["a", "x", "b", "y", "z"]


def test_recall_counts_relevant_within_cutoff():
    assert recall_at_k(RANKED, {"a", "b"}, 1) == 0.5
    assert recall_at_k(RANKED, {"a", "b"}, 3) == 1.0
    assert recall_at_k(RANKED, {"a", "b", "c"}, 5) == pytest.approx(2 / 3)


def test_reciprocal_rank_is_first_relevant_within_cutoff():
    assert reciprocal_rank_at_k(RANKED, {"b"}, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank_at_k(RANKED, {"b"}, 2) == 0.0
    assert reciprocal_rank_at_k(RANKED, {"a", "b"}, 10) == 1.0


def test_ndcg_with_binary_gains():
    # relevant at ranks 1 and 3 out of 2 relevant: (1 + 1/log2(4)) / (1 + 1/log2(3))
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(RANKED, {"a", "b"}, 10) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b"], {"a", "b"}, 10) == 1.0
    assert ndcg_at_k(["x", "a"], {"a"}, 10) == pytest.approx(1 / math.log2(3))


def test_no_relevant_scores_zero():
    assert recall_at_k(RANKED, set(), 10) == 0.0
    assert reciprocal_rank_at_k(RANKED, set(), 10) == 0.0
    assert ndcg_at_k(RANKED, set(), 10) == 0.0
    assert first_relevant_rank(RANKED, set()) is None


def test_duplicate_ids_count_once_but_keep_their_position():
    ranked = ["a", "a", "b"]
    assert recall_at_k(ranked, {"a", "b"}, 2) == 0.5
    assert recall_at_k(ranked, {"a", "b"}, 3) == 1.0
    assert ndcg_at_k(ranked, {"a", "b"}, 10) == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    # one relevant id seen twice never exceeds a perfect score
    assert recall_at_k(["a", "a"], {"a"}, 10) == 1.0
    assert ndcg_at_k(["a", "a"], {"a"}, 10) == 1.0


def test_fewer_hits_than_k_and_empty_ranking():
    assert recall_at_k(["x", "a"], {"a"}, 100) == 1.0
    assert recall_at_k([], {"a"}, 10) == 0.0
    assert reciprocal_rank_at_k([], {"a"}, 10) == 0.0
    assert ndcg_at_k([], {"a"}, 10) == 0.0


def test_ideal_dcg_is_capped_at_k():
    relevant = {f"r{i}" for i in range(20)}
    assert ndcg_at_k([f"r{i}" for i in range(10)], relevant, 10) == pytest.approx(1.0)


def test_invalid_cutoff_is_rejected():
    with pytest.raises(ValueError):
        recall_at_k(RANKED, {"a"}, 0)


def test_query_metrics_names_and_first_relevant_rank():
    metrics = query_metrics(["x"] * 7 + ["a"], {"a"})
    assert list(metrics) == ["recall@1", "recall@5", "recall@10", "recall@100", "mrr@10", "ndcg@10"]
    assert metrics["recall@5"] == 0.0
    assert metrics["recall@10"] == 1.0
    assert metrics["mrr@10"] == pytest.approx(1 / 8)
    assert first_relevant_rank(["x"] * 7 + ["a"], {"a"}) == 8


def test_mean_metrics_averages_per_name():
    assert mean_metrics([{"recall@1": 1.0, "mrr@10": 0.5}, {"recall@1": 0.0, "mrr@10": 0.25}]) == {
        "recall@1": 0.5,
        "mrr@10": 0.375,
    }
    with pytest.raises(ValueError):
        mean_metrics([])


def test_percentile_interpolates_linearly():
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert latency_summary(values) == {"latency_ms_p50": 25.0, "latency_ms_p95": pytest.approx(38.5)}
    with pytest.raises(ValueError):
        percentile([], 50)


def test_percentile_agrees_with_numpy():
    numpy = pytest.importorskip("numpy")
    values = [3.2, 1.0, 7.5, 2.2, 9.9, 4.4, 4.4]
    for q in (0, 17, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))
