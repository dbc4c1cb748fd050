"""Compare hybrid fusion settings on a question file, running each retriever once per question.

    POLICYQA_HOME=data/home .venv/bin/python -m experiments.fusion_sweep \
        --queries ../shared/eval/stard-train.jsonl --split validation --index-dir data/lawref-index

For every question the BM25 and the dense ranking are fetched once (as deep as hybrid search fetches them for
its top 100), then each fusion variant — min-max or reciprocal rank fusion, with its weights and k — is
applied exactly as ``PolicyIndex.search`` would (including the step-back of other places' documents), and
judged like ``policyqa eval``. Prints a Markdown table: the numbers behind docs/decisions/…-fusion-min-max.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from policyqa.errors import PolicyQAError
from policyqa.eval.metrics import mean_metrics, query_metrics
from policyqa.eval.queries import EvalQuery, load_queries
from policyqa.eval.report import metrics_table
from policyqa.eval.runner import SEARCH_DEPTH, judged_ids, label_ids
from policyqa.eval.split import PARTS, STARD_SPLIT, load_split, select
from policyqa.indexer import IndexSettings, PolicyIndex
from policyqa.indexer.records import SearchRequest
from policyqa.indexer.settings import load_settings

RETRIEVER_DEPTH = 3 * SEARCH_DEPTH  # what each retriever ranks when hybrid search is asked for k = 100
COLUMNS = ("recall@1", "recall@10", "recall@100", "mrr@10")


@dataclass(frozen=True)
class FusionVariant:
    """One way to fuse the two rankings."""

    name: str
    strategy: str  # "minmax" or "rrf"
    bm25_weight: float = 1.0
    rrf_k: int = 60
    other_region_penalty: float | None = None  # None: the index settings' own

    def settings(self, base: IndexSettings) -> IndexSettings:
        """``base`` with this variant's fusion."""
        update = {"fusion": self.strategy, "bm25_weight": self.bm25_weight, "rrf_k": self.rrf_k}
        if self.other_region_penalty is not None:
            update["other_region_penalty"] = self.other_region_penalty
        return base.model_copy(update=update)


DEFAULT_VARIANTS = (
    FusionVariant("min-max, equal weights", "minmax"),
    *(
        FusionVariant(f"min-max, other-region step-back {p:g}", "minmax", other_region_penalty=p)
        for p in (0.0, 0.1, 0.5)
    ),
    *(
        FusionVariant(f"min-max, BM25 weight {w:g}", "minmax", bm25_weight=w)
        for w in (0.25, 0.5, 0.75, 1.5, 2.0)
    ),
    *(FusionVariant(f"RRF k={k}", "rrf", rrf_k=k) for k in (10, 30, 60, 100)),
    *(FusionVariant(f"RRF k=60, BM25 weight {w:g}", "rrf", bm25_weight=w) for w in (0.5, 1.5, 2.0)),
)


def sweep(
    index: PolicyIndex,
    queries: Sequence[EvalQuery],
    variants: Sequence[FusionVariant] = DEFAULT_VARIANTS,
    *,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Mean ranking metrics of each variant (by name) over ``queries``."""
    pipelines = {
        variant.name: index.with_settings(variant.settings(index.settings)).pipeline for variant in variants
    }
    per_variant: dict[str, list[dict[str, float]]] = {variant.name: [] for variant in variants}
    for query in tqdm(queries, desc="fusion sweep", unit="q", disable=not progress):
        request = SearchRequest(index.query(query.question), "hybrid", RETRIEVER_DEPTH)
        rankings = index.pipeline.rankings(request)
        relevant = label_ids(query)
        for name, pipeline in pipelines.items():
            final = pipeline.combine(request, rankings)
            ranked = judged_ids(index.to_hits(final[:SEARCH_DEPTH], rankings), query.relevant)
            per_variant[name].append(query_metrics(ranked, relevant))
    return {name: mean_metrics(metrics) for name, metrics in per_variant.items()}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, sweep, print the table; a bad question file or index is a one-line error (exit 1)."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.fusion_sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--queries", type=Path, required=True, help="JSONL question file")
    parser.add_argument(
        "--index-dir", type=Path, help="index folder (default: POLICYQA_INDEX_DIR or HOME/index)"
    )
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--split", choices=PARTS, help="only this part of the train/validation split")
    parser.add_argument("--split-file", type=Path, default=STARD_SPLIT, help="split file (default: STARD's)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")
    try:
        queries = load_queries(args.queries)
        if args.split:
            queries = select(queries, load_split(args.split_file), args.split)
        queries = queries[: args.limit]
        settings = load_settings()
        index = PolicyIndex.load(args.index_dir or settings.resolved_index_dir, settings)
    except PolicyQAError as error:
        print(f"fusion_sweep: error: {error}", file=sys.stderr)
        return 1
    print(metrics_table(sweep(index, queries), row_label="fusion", columns=COLUMNS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
