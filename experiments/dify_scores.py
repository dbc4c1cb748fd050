"""The scores POST /retrieval gives Dify: in-scope against out-of-scope questions, and how monotone
relevance is in the search order they keep.

    .venv/bin/python -m experiments.dify_scores                      # the demo index (built if missing)
    .venv/bin/python -m experiments.dify_scores --index-dir DIR      # any index; out of scope: no law answers

For every seed question (in scope) and out-of-scope question it runs the hybrid search /retrieval runs
(top 10) and scores the hits as /retrieval does (``service.dify.record_scores``). It prints, per score
threshold, the questions with at least one record and the seed questions whose labelled clause is among
them; the spread of the top scores; how often relevance rises down the search order (adjacent pairs), and
the seed questions' MRR@10 and R@1 in the search order against the order of relevance. The numbers behind
docs/decisions/2026-12-01-dify-retrieval.md.
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

from policyqa.errors import PolicyQAError
from policyqa.eval.metrics import mean_metrics, percentile, query_metrics
from policyqa.eval.queries import OOD_QUESTIONS, SEED_QUESTIONS, load_out_of_scope, load_queries
from policyqa.eval.runner import judged_ids, label_ids
from policyqa.indexer import PolicyIndex
from policyqa.indexer.demo import ensure_demo_index
from policyqa.service.answers import answer_threshold
from policyqa.service.dify import record_scores
from policyqa.service.settings import load_settings

TOP_K = 10
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
HEADER = (
    "| score_threshold | in scope: ≥ 1 record | in scope: labelled clause kept | out of scope: ≥ 1 record |"
)


def main(argv: list[str] | None = None) -> int:
    """Measure and print; a missing index or question file is a one-line error."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.dify_scores", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--index-dir", type=Path, help="index folder (default: the demo index)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        index_dir = args.index_dir or ensure_demo_index(settings, progress=False)
        index = PolicyIndex.load(index_dir, settings)
        threshold = answer_threshold(index, settings.answer_min_relevance)
        seed = load_queries(SEED_QUESTIONS)
        outside = load_out_of_scope(OOD_QUESTIONS)
    except PolicyQAError as error:
        print(f"dify_scores: error: {error}", file=sys.stderr)
        return 1
    if args.index_dir is not None:  # a law collection answers the questions some law answers
        outside = [question for question in outside if not question.answered_by_law]
    rises, pairs = 0, 0
    search_order, relevance_order, in_scope, out_of_scope = [], [], [], []
    for question, query in [(query.question, query) for query in seed] + [
        (q.question, None) for q in outside
    ]:
        hits = index.search(question, k=TOP_K)
        scores = record_scores(hits, threshold)
        relevance = [hit.relevance or 0.0 for hit in hits]
        rises += sum(above < below for above, below in pairwise(relevance))
        pairs += max(len(hits) - 1, 0)
        if query is None:
            out_of_scope.append(max(scores, default=0.0))
            continue
        judged, relevant = judged_ids(hits, query.relevant), label_ids(query)
        search_order.append(query_metrics(judged, relevant))
        by_relevance = sorted(range(len(hits)), key=lambda i: -relevance[i])
        relevance_order.append(query_metrics([judged[i] for i in by_relevance], relevant))
        labelled = [score for score, hit_id in zip(scores, judged, strict=True) if hit_id in relevant]
        in_scope.append((max(scores, default=0.0), max(labelled, default=0.0)))

    print(f"index: {index_dir} ({len(index.documents())} documents); /ask threshold {threshold}")
    print(f"in scope: {len(seed)} seed questions; out of scope: {len(outside)}\n")
    print(f"{HEADER}\n|---:|---:|---:|---:|")
    for cut in THRESHOLDS:
        any_in = sum(top >= cut for top, _labelled in in_scope)
        labelled_in = sum(labelled >= cut for _top, labelled in in_scope)
        any_out = sum(top >= cut for top in out_of_scope)
        print(f"| {cut} | {any_in}/{len(seed)} | {labelled_in}/{len(seed)} | {any_out}/{len(outside)} |")
    print("\n| top score | p10 | median | p90 |\n|---|---:|---:|---:|")
    for name, tops in (("in scope", [top for top, _ in in_scope]), ("out of scope", out_of_scope)):
        print(f"| {name} | " + " | ".join(f"{percentile(tops, q):.3f}" for q in (10, 50, 90)) + " |")
    print(
        f"\nrelevance rises down the search order in {rises} of {pairs} adjacent pairs ({rises / pairs:.1%})"
    )
    searched, relevant_first = mean_metrics(search_order), mean_metrics(relevance_order)
    for metric in ("mrr@10", "recall@1"):
        ours, theirs = searched[metric], relevant_first[metric]
        print(f"seed {metric}: search order {ours:.3f}, relevance order {theirs:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
