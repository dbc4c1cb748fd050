"""``policyqa eval`` (retrieval quality on a query file), ``policyqa bench`` (speed and memory),
``policyqa train embedder`` (a LoRA adapter for the embedding model) and ``policyqa train reranker`` (the
cross-encoder re-ranker), both learnt from labelled questions."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path
from typing import TypeVar

from policyqa.eval.peer import PEERS
from policyqa.eval.queries import SEED_QUESTIONS
from policyqa.eval.split import PARTS, STARD_SPLIT, load_split, select
from policyqa.indexer.cli import add_store_arguments, store_overrides

Config = TypeVar("Config")  # a training run's frozen dataclass (TrainConfig, RerankerConfig)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``policyqa eval``, ``policyqa bench`` and ``policyqa train``."""
    _add_eval_parser(subparsers)
    _add_bench_parser(subparsers)
    _add_train_parser(subparsers)


def _add_eval_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="measure retrieval quality on a labelled query file",
        description="Search every query of a JSONL file (top 100, once per mode) and report "
        "Recall@1/5/10/100, MRR@10, nDCG@10 and latency. Labels: {title, article}, {clause_id} or "
        "{heading} (see eval/labels.py).",
    )
    parser.add_argument("--queries", type=Path, required=True, help="JSONL query file")
    parser.add_argument(
        "--index-dir", type=Path, help="index folder (default: POLICYQA_INDEX_DIR or HOME/index)"
    )
    parser.add_argument("--mode", default="all", help="bm25, dense, hybrid or all (default)")
    parser.add_argument("--limit", type=_positive_int, help="evaluate only the first N queries")
    parser.add_argument(
        "--split",
        choices=PARTS,
        help="evaluate only this part of the train/validation split (see --split-file)",
    )
    parser.add_argument(
        "--split-file", type=Path, default=STARD_SPLIT, help="split file for --split (default: STARD's)"
    )
    parser.add_argument("--document", metavar="ID", help="ask every question inside this document only")
    parser.add_argument(
        "--as-of", metavar="YYYY-MM-DD", help="search the versions in force on this day (default today)"
    )
    parser.add_argument("--history", action="store_true", help="search every version, in force or not")
    add_store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print machine-readable metrics")
    parser.add_argument("--report", type=Path, help="write a Markdown report (table and worst misses) here")
    parser.add_argument("--misses", type=_positive_int, default=10, help="worst misses listed per mode")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--key-phrases",
        action="store_true",
        help="instead: ask every question as /ask does and report the share of answers whose quotes contain "
        "the line's key_phrase (and of labelled clauses retrieved at all); see docs/evaluation.md",
    )
    parser.set_defaults(func=run_eval)


def _add_bench_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure indexing, loading, query and HTTP speed",
        description="Optionally build an index from PATHS (throughput, peak RSS), then measure index "
        "size, cold load time, in-process query latency per mode and HTTP throughput of a real "
        "`policyqa serve`. With --store milvus, also copy the folder index into Milvus (throughput) and "
        "time the same queries there, next to the folder store's.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="documents or folders to index first (optional)")
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="index to measure (default HOME/index); with PATHS required: the index built there is replaced",
    )
    parser.add_argument("--queries", type=Path, default=SEED_QUESTIONS, help="questions to time (JSONL)")
    parser.add_argument("--mode", default="all", help="bm25, dense, hybrid or all (default)")
    parser.add_argument("--concurrency", type=_positive_int, default=16, help="concurrent HTTP clients")
    parser.add_argument(
        "--workers", type=_positive_int, default=1, help="server processes for the HTTP load (default 1)"
    )
    parser.add_argument(
        "--duration", type=_positive_float, default=10.0, help="seconds of HTTP load per endpoint"
    )
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP load test")
    parser.add_argument(
        "--fresh-cache", action="store_true", help="build with an empty embedding cache (embed every passage)"
    )
    parser.add_argument(
        "--peer",
        choices=PEERS,
        help="also index PATHS with this library (same passages, model and prompts) and print its build, "
        "load and query figures beside policyqa's, with ratios; implies --fresh-cache",
    )
    add_store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    parser.set_defaults(func=run_bench_command)


def _add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="learn from labelled questions", description="Learn from labelled questions."
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    embedder = kinds.add_parser(
        "embedder",
        help="train a LoRA adapter for the embedding model",
        description="Train a LoRA adapter of the configured embedding model on the train part of the split "
        "(positives: the labelled clauses' passages; hard negatives mined from the index's BM25 and dense "
        "rankings), keep the checkpoint with the best validation MRR@10 and write the adapter to --out. "
        "Use it with POLICYQA_ADAPTER=OUT (and rebuild the index).",
    )
    embedder.add_argument("--queries", type=Path, required=True, help="labelled JSONL question file")
    embedder.add_argument(
        "--index-dir",
        type=Path,
        required=True,
        help="index to mine negatives from, built with the base model or with the configured adapter",
    )
    embedder.add_argument("--out", type=Path, required=True, help="adapter folder to write (new or --resume)")
    embedder.add_argument(
        "--split-file", type=Path, default=STARD_SPLIT, help="train/validation split (default: STARD's)"
    )
    embedder.add_argument("--epochs", type=_positive_int, default=1, help="passes over the examples (1)")
    embedder.add_argument("--batch-size", type=_positive_int, default=16, help="questions per step (16)")
    embedder.add_argument("--learning-rate", type=_positive_float, default=2e-4, help="peak rate (2e-4)")
    embedder.add_argument(
        "--negatives", type=_positive_int, default=3, help="hard negatives per question (3)"
    )
    embedder.add_argument("--max-steps", type=_positive_int, help="stop after N steps (overrides --epochs)")
    embedder.add_argument("--seed", type=int, default=20261201, help="seed of LoRA, data order and mining")
    embedder.add_argument("--lora-rank", type=_positive_int, default=16, help="LoRA rank (16)")
    embedder.add_argument(
        "--max-passage-tokens",
        type=_positive_int,
        default=256,
        help="passages cut to N tokens in training (256)",
    )
    embedder.add_argument(
        "--pool-depth",
        type=_positive_int,
        default=20,
        help="validation pool: each validation question's top N hybrid clauses plus its labelled ones (20)",
    )
    embedder.add_argument(
        "--from-adapter",
        type=Path,
        help="continue training this adapter folder instead of a fresh LoRA (a second round, with negatives "
        "mined from an index built with it); --lora-rank is then the adapter's own",
    )
    embedder.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    embedder.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    embedder.set_defaults(func=run_train_embedder)
    _add_train_reranker_parser(kinds)
    _add_train_relevance_parser(kinds)
    _add_train_ranker_parser(kinds)


def _add_train_reranker_parser(kinds: argparse._SubParsersAction) -> None:
    reranker = kinds.add_parser(
        "reranker",
        help="train the cross-encoder re-ranker",
        description="Train the cross-encoder re-ranker (the configured embedding model, POLICYQA_MODEL "
        "with POLICYQA_ADAPTER, with a fresh LoRA adapter and a one-logit head) on the train part of the "
        "split (labelled clauses against hard negatives mined from the index, which must be built with that "
        "model), keep the checkpoint with the best validation MRR@10 when re-ranking each validation "
        "question's fused top --depth, and write it to --out. Use it with POLICYQA_RERANK=on "
        "POLICYQA_RERANK_MODEL=OUT.",
    )
    reranker.add_argument("--queries", type=Path, required=True, help="labelled JSONL question file")
    reranker.add_argument(
        "--index-dir", type=Path, required=True, help="index built with the configured model"
    )
    reranker.add_argument(
        "--out", type=Path, required=True, help="re-ranker folder to write (new or --resume)"
    )
    reranker.add_argument(
        "--split-file", type=Path, default=STARD_SPLIT, help="train/validation split (default: STARD's)"
    )
    reranker.add_argument("--epochs", type=_positive_int, default=1, help="passes over the examples (1)")
    reranker.add_argument("--batch-size", type=_positive_int, default=32, help="pairs per step (32)")
    reranker.add_argument("--learning-rate", type=_positive_float, default=2e-4, help="peak rate (2e-4)")
    reranker.add_argument(
        "--negatives", type=_positive_int, default=3, help="hard negatives per question (3)"
    )
    reranker.add_argument("--max-steps", type=_positive_int, help="stop after N steps (overrides --epochs)")
    reranker.add_argument(
        "--seed", type=int, default=20261201, help="seed of LoRA, head, data order and mining"
    )
    reranker.add_argument("--lora-rank", type=_positive_int, default=16, help="LoRA rank (16)")
    reranker.add_argument(
        "--max-tokens", type=_positive_int, default=128, help="question + clause cut to N tokens (128)"
    )
    reranker.add_argument(
        "--depth", type=_positive_int, default=20, help="validation: re-rank each question's fused top N (20)"
    )
    reranker.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    reranker.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    reranker.set_defaults(func=run_train_reranker)


def _add_train_relevance_parser(kinds: argparse._SubParsersAction) -> None:
    relevance = kinds.add_parser(
        "relevance",
        help="fit the relevance model and the /ask threshold for the configured embedding model",
        description="Ask the seed, STARD validation and out-of-scope questions on a full index and on the "
        "demo index, fit the relevance model (a logistic regression over each hit's features) and the /ask "
        "threshold that holds on both, report false-answer and false-refusal rates (in-sample and "
        "cross-validated) and write indexer/resources/relevance/<model id>.json.",
    )
    relevance.add_argument("--queries", type=Path, required=True, help="STARD-train JSONL question file")
    relevance.add_argument("--index-dir", type=Path, required=True, help="full index (the law corpus)")
    relevance.add_argument(
        "--demo-index-dir",
        type=Path,
        help="index of the demo document alone, same model (default: HOME/index, built if missing)",
    )
    relevance.add_argument(
        "--split-file", type=Path, default=STARD_SPLIT, help="train/validation split (default: STARD's)"
    )
    relevance.add_argument("--out-dir", type=Path, help="folder of the model file (default: the package's)")
    relevance.add_argument("--no-progress", action="store_true", help="hide progress lines")
    relevance.set_defaults(func=run_train_relevance)


def _add_train_ranker_parser(kinds: argparse._SubParsersAction) -> None:
    ranker = kinds.add_parser(
        "ranker",
        help="train the learned ranker (POLICYQA_RERANK=learned) for the index's embedding model",
        description="Search every question of the split's train part on the index (hybrid, re-ranker off, "
        "each retriever --depth deep, plus --answered-candidates articles that answered train questions), "
        "train a LightGBM lambdarank model over the candidates' retrieval signals and how often each "
        "article answered (number of trees by cross-validation over the train questions), measure it on the "
        "validation part and write it to --out (default: indexer/resources/ranker/<model id>.json).",
    )
    ranker.add_argument("--queries", type=Path, required=True, help="labelled JSONL question file")
    ranker.add_argument("--index-dir", type=Path, required=True, help="index built with the model")
    ranker.add_argument("--out", type=Path, help="model file to write (default: the package's)")
    ranker.add_argument(
        "--split-file", type=Path, default=STARD_SPLIT, help="train/validation split (default: STARD's)"
    )
    ranker.add_argument(
        "--depth", type=_positive_int, default=300, help="candidates each retriever ranks (300)"
    )
    ranker.add_argument(
        "--answered-candidates",
        type=_non_negative_int,
        default=50,
        help="articles that answered train questions, nearest the question, added to the dense "
        "candidates (50; 0: none)",
    )
    ranker.add_argument("--trees", type=_positive_int, help="number of trees (default: cross-validated)")
    ranker.add_argument("--seed", type=int, default=20261201, help="seed of the folds and of LightGBM")
    ranker.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    ranker.set_defaults(func=run_train_ranker)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate, print a table (or JSON) and optionally write the Markdown report."""
    from policyqa.eval.files import ensure_writable, write_text_atomic
    from policyqa.eval.queries import load_queries
    from policyqa.eval.report import markdown_report, metrics_table, rank_profile
    from policyqa.eval.runner import evaluate_mode, resolve_modes, unresolved_labels
    from policyqa.indexer import PolicyIndex, SearchFilters
    from policyqa.indexer.encoders import set_inference_threads
    from policyqa.indexer.settings import load_settings
    from policyqa.service.settings import load_settings as load_service_settings

    set_inference_threads(load_service_settings().torch_threads)  # latencies as the server computes them
    if args.key_phrases:
        return run_key_phrase_eval(args)
    modes = resolve_modes(args.mode)
    queries = load_queries(args.queries)
    if args.split:
        queries = select(queries, load_split(args.split_file), args.split)
    queries = queries[: args.limit]
    if args.report:
        ensure_writable(args.report)
    settings = load_settings(**store_overrides(args))
    index = PolicyIndex.load(args.index_dir or settings.resolved_index_dir, settings)
    filters = SearchFilters(document_id=args.document, as_of=args.as_of, include_history=args.history or None)
    results = [
        evaluate_mode(index, queries, mode, filters=filters, progress=not args.no_progress) for mode in modes
    ]
    unresolved = unresolved_labels(index, queries)
    if args.report:
        title = f"Retrieval evaluation: {args.queries.name}"
        write_text_atomic(
            args.report, markdown_report(title, results, unresolved=unresolved, misses=args.misses)
        )
    if args.json:
        output = {
            "metrics": {result.mode: result.summary() for result in results},
            "queries": len(queries),
            "unresolved_labels": len(unresolved),
        }
        print(json.dumps(output, ensure_ascii=False, indent=2))
    else:
        print(metrics_table({result.mode: result.summary() for result in results}))
        for result in results:
            print(rank_profile(result))
        if unresolved:
            print(f"{len(unresolved)} labels match no clause in the index (see --report)")
    return 0


def run_key_phrase_eval(args: argparse.Namespace) -> int:
    """Ask every question of a key-phrase file; print each outcome and the shares (or JSON)."""
    from policyqa.eval.answers import ask_key_phrases, key_phrase_summary, key_phrase_table
    from policyqa.eval.queries import load_key_phrase_queries
    from policyqa.indexer import PolicyIndex
    from policyqa.service.answers import answerer_from_settings
    from policyqa.service.settings import load_settings

    queries = load_key_phrase_queries(args.queries)[: args.limit]
    settings = load_settings(**store_overrides(args))
    index = PolicyIndex.load(args.index_dir or settings.resolved_index_dir, settings)
    answerer = answerer_from_settings(settings, index.embedder)
    outcomes = ask_key_phrases(index, answerer, queries, min_relevance=settings.answer_min_relevance)
    summary = key_phrase_summary(outcomes)
    print(json.dumps(summary, indent=2) if args.json else key_phrase_table(outcomes))
    return 0


def run_bench_command(args: argparse.Namespace) -> int:
    """Run the benchmark and print a table (or JSON)."""
    from policyqa.eval.bench import BenchConfig, bench_table, run_bench
    from policyqa.eval.runner import resolve_modes

    config = BenchConfig(
        paths=tuple(args.paths),
        index_dir=args.index_dir,
        queries=args.queries,
        modes=resolve_modes(args.mode),
        concurrency=args.concurrency,
        workers=args.workers,
        duration=args.duration,
        http=not args.no_http,
        fresh_cache=args.fresh_cache,
        peer=args.peer,
        store_settings={key: value for key, value in store_overrides(args).items() if value is not None},
    )
    result = run_bench(config)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else bench_table(result))
    return 0


def run_train_embedder(args: argparse.Namespace) -> int:
    """Train the adapter and print where it went."""
    from policyqa.eval.train_embedder import TrainConfig, train_embedder
    from policyqa.indexer.settings import load_settings

    train_embedder(_training_config(TrainConfig, args), load_settings())
    return 0


def run_train_reranker(args: argparse.Namespace) -> int:
    """Train the re-ranker and print where it went."""
    from policyqa.eval.train_reranker import RerankerConfig, train_reranker
    from policyqa.indexer.settings import load_settings

    train_reranker(_training_config(RerankerConfig, args), load_settings())
    return 0


def run_train_ranker(args: argparse.Namespace) -> int:
    """Train the learned ranker, print its validation metrics and where it went."""
    from policyqa.eval.train_ranker import RankerConfig, report, train_ranker
    from policyqa.indexer.settings import load_settings

    print(report(*train_ranker(_training_config(RankerConfig, args), load_settings())))
    return 0


def _training_config(config_class: type[Config], args: argparse.Namespace) -> Config:
    """A training run's config: every field from the option of the same name, ``progress`` from
    ``--no-progress``."""
    values = {
        field.name: getattr(args, field.name) for field in fields(config_class) if field.name != "progress"
    }
    return config_class(**values, progress=not args.no_progress)


def run_train_relevance(args: argparse.Namespace) -> int:
    """Fit the relevance model on both indexes, print it with its rates and where it went."""
    from policyqa.eval.train_relevance import RELEVANCE_DIR, RelevanceConfig, report, train_relevance
    from policyqa.indexer.demo import ensure_demo_index
    from policyqa.indexer.settings import load_settings

    settings = load_settings()
    demo_index_dir = args.demo_index_dir or ensure_demo_index(
        settings.model_copy(update={"index_dir": None}), progress=not args.no_progress
    )
    config = RelevanceConfig(
        stard=args.queries,
        index_dir=args.index_dir,
        demo_index_dir=demo_index_dir,
        split_file=args.split_file,
        out_dir=args.out_dir or RELEVANCE_DIR,
        progress=not args.no_progress,
    )
    print(report(train_relevance(config, settings)))
    return 0
