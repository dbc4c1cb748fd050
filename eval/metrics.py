"""Ranking metrics as pure functions on a ranked list of ids and the set of relevant ids.

Conventions shared by every function:
- ``ranked`` is best first and may repeat an id (two versions of one law answer the same label);
  only the first occurrence of an id counts, later copies keep their rank position but add nothing.
- ``relevant`` is the set of ids that count as correct; an empty set scores 0.0 (nothing can be found).
- Fewer than ``k`` hits is fine: the missing positions count as misses.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence

RECALL_CUTOFFS: tuple[int, ...] = (1, 5, 10, 100)
RANK_CUTOFF = 10  # for MRR@10 and nDCG@10


def _new_relevant_flags(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> list[bool]:
    """For each of the top ``k`` positions: is it a relevant id seen there for the first time?"""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    seen: set[Hashable] = set()
    flags = []
    for item in ranked[:k]:
        flags.append(item in relevant and item not in seen)
        seen.add(item)
    return flags


def recall_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """|relevant ∩ top-k| / |relevant|."""
    if not relevant:
        return 0.0
    return sum(_new_relevant_flags(ranked, relevant, k)) / len(set(relevant))


def reciprocal_rank_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """1 / rank of the first relevant id within the top ``k``, else 0."""
    for position, is_new_relevant in enumerate(_new_relevant_flags(ranked, relevant, k), start=1):
        if is_new_relevant:
            return 1.0 / position
    return 0.0


def ndcg_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Normalised discounted cumulative gain with binary gains (log2 discount)."""
    if not relevant:
        return 0.0
    dcg = sum(
        1.0 / math.log2(position + 1)
        for position, is_new_relevant in enumerate(_new_relevant_flags(ranked, relevant, k), start=1)
        if is_new_relevant
    )
    ideal = sum(1.0 / math.log2(position + 1) for position in range(1, min(len(set(relevant)), k) + 1))
    return dcg / ideal


def first_relevant_rank(ranked: Sequence[Hashable], relevant: Collection[Hashable]) -> int | None:
    """1-based rank of the first relevant id anywhere in ``ranked``, or None."""
    return next((position for position, item in enumerate(ranked, start=1) if item in relevant), None)


def query_metrics(ranked: Sequence[Hashable], relevant: Collection[Hashable]) -> dict[str, float]:
    """Recall@1/5/10/100, MRR@10 and nDCG@10 of one query."""
    metrics = {f"recall@{k}": recall_at_k(ranked, relevant, k) for k in RECALL_CUTOFFS}
    metrics[f"mrr@{RANK_CUTOFF}"] = reciprocal_rank_at_k(ranked, relevant, RANK_CUTOFF)
    metrics[f"ndcg@{RANK_CUTOFF}"] = ndcg_at_k(ranked, relevant, RANK_CUTOFF)
    return metrics


def mean_metrics(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Average each metric over queries (every query must report the same metrics)."""
    rows = list(per_query)
    if not rows:
        raise ValueError("no queries to average")
    return {name: sum(row[name] for row in rows) / len(rows) for name in rows[0]}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def latency_summary(latencies_ms: Sequence[float], quantiles: Sequence[int] = (50, 95)) -> dict[str, float]:
    """``{"latency_ms_p50": …, "latency_ms_p95": …}`` for the given quantiles."""
    return {f"latency_ms_p{q}": percentile(latencies_ms, q) for q in quantiles}
