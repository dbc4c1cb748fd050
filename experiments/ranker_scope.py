"""Which clauses the learned ranker may move: every candidate, or articles (第X条) only.

    POLICYQA_HOME=data/home POLICYQA_TORCH_THREADS=1 .venv/bin/python -m experiments.ranker_scope \
        --queries ../shared/eval/stard-train.jsonl --index-dir data/lawref-index-stard

Both variants are trained exactly like ``policyqa train ranker`` (same candidates, features, parameters and
number of trees) on the train part of the split; "all" learns from and re-orders every candidate, "articles"
only the articles. Each is judged on the validation part and on the seed questions (asked with home region
江苏, as a 江苏 deployment asks them). Prints a Markdown table: the numbers behind
docs/decisions/2026-12-02-learned-ranker.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from policyqa.errors import PolicyQAError
from policyqa.eval.queries import SEED_QUESTIONS, load_queries
from policyqa.eval.report import metrics_table
from policyqa.eval.split import STARD_SPLIT, load_split, select
from policyqa.eval.train_ranker import (
    PARAMS,
    Answers,
    Candidates,
    RankerConfig,
    collect,
    evaluate,
    training_data,
)
from policyqa.indexer import PolicyIndex
from policyqa.indexer.settings import load_settings

COLUMNS = ("recall@1", "recall@10", "recall@100", "mrr@10")


def everything(found: list[Candidates]) -> list[Candidates]:
    """``found`` with every candidate treated as one the ranker may move."""
    return [replace(item, articles=[True] * len(item.articles)) for item in found]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train both variants, print the table; a bad file or index is a one-line error."""
    import lightgbm

    parser = argparse.ArgumentParser(
        prog="python -m experiments.ranker_scope", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--queries", type=Path, required=True, help="STARD-train JSONL question file")
    parser.add_argument("--index-dir", type=Path, required=True, help="the full index")
    parser.add_argument("--split-file", type=Path, default=STARD_SPLIT, help="split (default: STARD's)")
    parser.add_argument("--trees", type=int, default=209, help="trees of both variants (the shipped: 209)")
    parser.add_argument("--depth", type=int, default=300, help="candidates per retriever (300)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        index = PolicyIndex.load(args.index_dir, settings)
        queries, split = load_queries(args.queries), load_split(args.split_file)
        seed_questions = load_queries(SEED_QUESTIONS)
    except PolicyQAError as error:
        print(f"ranker_scope: error: {error}", file=sys.stderr)
        return 1
    config = RankerConfig(args.queries, args.index_dir, split_file=args.split_file, depth=args.depth)
    train_questions = select(queries, split, "train")
    answers = Answers.of(train_questions, index)
    train = collect(index, train_questions, config, answers, counted=True)
    validation = collect(index, select(queries, split, "validation"), config, answers, counted=False)
    jiangsu = index.with_settings(settings.model_copy(update={"home_region": "江苏"}))
    seed = collect(jiangsu, seed_questions, config, answers, counted=False)
    rows: dict[str, dict[str, float]] = {}
    for name, scope in (("all candidates", everything), ("articles only", list)):
        features, labels, groups = training_data(scope(train))
        booster = lightgbm.train(
            {**PARAMS, "seed": 20261201}, lightgbm.Dataset(features, labels, group=groups), args.trees
        )
        for part, found in (("validation", validation), ("seed", seed)):
            measured = evaluate(scope(found), booster)
            rows.setdefault(f"{part}: fused", measured["fused"])
            rows[f"{part}: ranker moves {name}"] = measured["learned"]
    print(metrics_table(rows, row_label="questions: ranking", columns=COLUMNS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
