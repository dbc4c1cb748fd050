"""Measure the cross-encoder re-ranker on the validation split: what re-ranking the fused top N gains, and the
latency it adds per question, at N = 10, 20, 50.

    POLICYQA_HOME=data/home POLICYQA_RERANK=on POLICYQA_RERANK_MODEL=data/reranker-v1 \
        .venv/bin/python -m experiments.rerank --queries ../shared/eval/stard-train.jsonl \
        --index-dir data/lawref-index

Each validation question's hybrid ranking is computed once as ``/search`` and ``/ask`` compute it (100
candidates per retriever, fused, stepped back), its top max(N) clauses are scored by the cross-encoder once
(a pointwise score does not depend on the other candidates), and for each N the top N are put in score order
above the unchanged rest, judged like ``policyqa eval`` (``--depths`` picks the N). The latency is the
re-rank stage alone, timed per question at N = 10, 20, 50 after a warm-up (``policyqa bench``'s
``rerank_latencies``) on the first ``--latency-questions``. ``--every-question`` takes the whole file
instead of its validation part (the seed questions). Prints two Markdown tables: the numbers behind
docs/decisions/2026-12-01-reranker.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policyqa.errors import PolicyQAError
from policyqa.eval.bench import rerank_latencies, rerank_lines
from policyqa.eval.metrics import mean_metrics, query_metrics
from policyqa.eval.queries import EvalQuery, load_queries
from policyqa.eval.report import metrics_table
from policyqa.eval.runner import SEARCH_DEPTH, judged_ids, label_ids
from policyqa.eval.split import STARD_SPLIT, load_split, select
from policyqa.indexer import PolicyIndex
from policyqa.indexer.cross_encoder import CrossEncoderReranker, clause_text
from policyqa.indexer.index import MIN_CANDIDATES
from policyqa.indexer.records import SearchRequest
from policyqa.indexer.settings import load_settings

COLUMNS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def quality(
    index: PolicyIndex, queries: Sequence[EvalQuery], depths: Sequence[int], *, progress: bool = True
) -> dict[str, dict[str, float]]:
    """Mean metrics of the fused order and of the fused top N re-ranked, for each N of ``depths``."""
    reranker = index.pipeline.reranker
    assert isinstance(reranker, CrossEncoderReranker)
    fused = index.with_settings(index.settings.model_copy(update={"rerank": "off"})).pipeline
    rows: dict[str, list[dict[str, float]]] = {"fused": [], **{f"re-ranked top {n}": [] for n in depths}}
    for query in tqdm(queries, desc="re-rank", unit="q", disable=not progress):
        request = SearchRequest(index.query(query.question), "hybrid", MIN_CANDIDATES)
        rankings = fused.rankings(request)
        ranking = fused.combine(request, rankings)[:SEARCH_DEPTH]
        judged = judged_ids(index.to_hits(ranking, rankings), query.relevant)
        relevant = label_ids(query)
        rows["fused"].append(query_metrics(judged, relevant))
        top = ranking[: max(depths)]
        scores = reranker.encoder.scores(query.question, [clause_text(index.catalogue, c) for c, _s in top])
        for n in depths:
            order = list(np.argsort(-scores[:n], kind="stable")) + list(range(min(n, len(top)), len(judged)))
            rows[f"re-ranked top {n}"].append(query_metrics([judged[i] for i in order], relevant))
    return {name: mean_metrics(metrics) for name, metrics in rows.items()}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print the tables; a bad file, index or re-ranker is a one-line error."""
    parser = argparse.ArgumentParser(prog="python -m experiments.rerank", description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=Path, required=True, help="JSONL question file")
    parser.add_argument(
        "--index-dir", type=Path, help="index folder (default: POLICYQA_INDEX_DIR or HOME/index)"
    )
    parser.add_argument("--split-file", type=Path, default=STARD_SPLIT, help="split (default: STARD's)")
    parser.add_argument(
        "--every-question",
        action="store_true",
        help="all questions of the file instead of its validation part (question sets never trained on, "
        "e.g. eval/data/seed_questions.jsonl)",
    )
    parser.add_argument(
        "--depths", default="10,20,50", help="the N whose re-ranked quality is measured (10,20,50)"
    )
    parser.add_argument("--latency-questions", type=int, default=60, help="questions timed at each N (60)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if settings.rerank != "on":
            raise PolicyQAError("set POLICYQA_RERANK=on (and POLICYQA_RERANK_MODEL) to measure a re-ranker")
        queries = load_queries(args.queries)
        if not args.every_question:
            queries = select(queries, load_split(args.split_file), "validation")
        index = PolicyIndex.load(args.index_dir or settings.resolved_index_dir, settings)
    except PolicyQAError as error:
        print(f"rerank: error: {error}", file=sys.stderr)
        return 1
    depths = [int(depth) for depth in args.depths.split(",")]
    print(metrics_table(quality(index, queries, depths), row_label="ranking", columns=COLUMNS))
    questions = [query.question for query in queries[: args.latency_questions]]
    print("\n".join(rerank_lines(rerank_latencies(index, questions))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
