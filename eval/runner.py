"""Run evaluation queries against a loaded index, one search mode at a time."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from tqdm import tqdm

from policyqa.eval.errors import EvalError
from policyqa.eval.labels import ArticleLabel, ClauseLabel, Label, judge
from policyqa.eval.metrics import first_relevant_rank, latency_summary, mean_metrics, query_metrics
from policyqa.eval.queries import EvalQuery
from policyqa.indexer import PolicyIndex
from policyqa.indexer.records import SEARCH_MODES, Hit, SearchFilters
from policyqa.text import label_form

SEARCH_DEPTH = 100  # every query retrieves its top 100 once per mode; all cut-offs are computed from it


@dataclass(frozen=True)
class QueryResult:
    """How one query fared in one mode."""

    query: EvalQuery
    metrics: dict[str, float]
    first_relevant_rank: int | None  # 1-based, None when no relevant clause is in the top SEARCH_DEPTH
    top_hit: Hit | None
    latency_ms: float


@dataclass(frozen=True)
class ModeResult:
    """All queries of one mode."""

    mode: str
    results: tuple[QueryResult, ...]

    def summary(self) -> dict[str, float]:
        """Mean ranking metrics plus per-query latency p50/p95 (milliseconds)."""
        summary = mean_metrics(result.metrics for result in self.results)
        summary.update(latency_summary([result.latency_ms for result in self.results]))
        return summary


def resolve_modes(mode: str) -> tuple[str, ...]:
    """``"all"`` means every search mode; anything else must be one of them."""
    if mode == "all":
        return SEARCH_MODES
    if mode not in SEARCH_MODES:
        raise EvalError(f"unknown mode {mode!r}; choose one of {', '.join(SEARCH_MODES)} or all")
    return (mode,)


def evaluate_mode(
    index: PolicyIndex,
    queries: list[EvalQuery],
    mode: str,
    *,
    filters: SearchFilters | None = None,
    progress: bool = True,
) -> ModeResult:
    """Search every query once (top ``SEARCH_DEPTH``, restricted by ``filters``), judge the hits against
    its labels and time it.

    One untimed warm-up search runs first so lazy initialisation is not counted as query latency.
    """
    index.search(queries[0].question, mode=mode, k=SEARCH_DEPTH, filters=filters)
    results = []
    for query in tqdm(queries, desc=f"eval {mode}", unit="q", disable=not progress):
        started = time.perf_counter()
        hits = index.search(query.question, mode=mode, k=SEARCH_DEPTH, filters=filters)
        latency_ms = (time.perf_counter() - started) * 1000
        ranked = judged_ids(hits, query.relevant)
        relevant = label_ids(query)
        results.append(
            QueryResult(
                query=query,
                metrics=query_metrics(ranked, relevant),
                first_relevant_rank=first_relevant_rank(ranked, relevant),
                top_hit=hits[0] if hits else None,
                latency_ms=latency_ms,
            )
        )
    return ModeResult(mode=mode, results=tuple(results))


def judged_ids(hits: list[Hit], labels: tuple[Label, ...]) -> list[str]:
    """The ranked ids the metrics see: a hit satisfying label i becomes ``label:i`` (so several versions of
    one law answering the same label count once), any other hit keeps its own clause id."""
    ids = []
    for hit in hits:
        label_index = judge(hit.clause, hit.document, labels)
        ids.append(f"clause:{hit.clause.id}" if label_index is None else _label_id(label_index))
    return ids


def label_ids(query: EvalQuery) -> set[str]:
    """The ids ``judged_ids`` gives the hits that satisfy each of ``query``'s labels."""
    return {_label_id(i) for i in range(len(query.relevant))}


def _label_id(index: int) -> str:
    return f"label:{index}"


def unresolved_labels(index: PolicyIndex, queries: list[EvalQuery]) -> list[tuple[EvalQuery, Label]]:
    """Labels that no clause of the index satisfies (missing document, or a parsing problem)."""
    clauses_by_title = defaultdict(list)
    clause_ids = set()
    headed = []
    for document in index.documents():
        for clause in index.clauses_of(document.id):
            clauses_by_title[label_form(document.title)].append((clause, document))
            clause_ids.add(clause.id)
            if clause.heading:
                headed.append((clause, document))
    found: dict[Label, bool] = {}

    def resolvable(label: Label) -> bool:
        if label not in found:
            if isinstance(label, ClauseLabel):
                found[label] = label.clause_id in clause_ids
            else:
                candidates = (
                    clauses_by_title.get(label_form(label.title), [])
                    if isinstance(label, ArticleLabel)
                    else headed
                )
                found[label] = any(label.matches(clause, document) for clause, document in candidates)
        return found[label]

    return [(query, label) for query in queries for label in query.relevant if not resolvable(label)]
