"""What each stage of a search costs on a loaded index, in CPU time of one thread.

    POLICYQA_HOME=data/home .venv/bin/python -m experiments.query_path_costs --index-dir data/lawref-index \
        --queries ../shared/eval/stard-train.jsonl --split validation

Loads the index once, sets torch and FAISS to one thread (a server request's, ``POLICYQA_TORCH_THREADS=1``),
embeds every question once (the stages below reuse the vector, so the embedding is timed on its own), then
times each stage per question with ``time.thread_time`` (CPU time: a machine shared with other jobs slows
the wall clock, much less the CPU time of one thread): the day's filter mask, each retriever with and without
the day's filter at the depth a ``k`` search uses, the relevance features of the hybrid hits, and whole
searches per mode. The numbers behind docs/decisions/2026-12-02-query-path.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import torch

from policyqa.eval.metrics import percentile
from policyqa.eval.queries import load_queries
from policyqa.eval.split import STARD_SPLIT, load_split, select
from policyqa.indexer.index import MIN_CANDIDATES, PolicyIndex, dated
from policyqa.indexer.lru import LRUCache
from policyqa.indexer.records import Query
from policyqa.indexer.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--split", choices=("train", "validation"))
    parser.add_argument("--limit", type=int, default=0, help="first N questions only")
    parser.add_argument("-k", type=int, default=100, help="hits per search (eval: 100; /search: 10)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    questions = load_queries(args.queries)
    if args.split:
        questions = select(questions, load_split(STARD_SPLIT), args.split)
    texts = [question.question for question in questions][: args.limit or None]
    index = PolicyIndex.load(args.index_dir, load_settings())
    index.embedder.query_cache = LRUCache(0)  # every question embedded
    vectors = {}
    print(
        _row(
            "embed the question",
            _timed(texts, lambda text: vectors.setdefault(text, index.embedder.embed_query(text))),
        )
    )

    def query(text: str) -> Query:
        return Query(text, lambda _text: vectors[text])

    day = dated(None, index.settings)
    depth = max(MIN_CANDIDATES, 3 * args.k)
    bm25, dense = (index.pipeline.retrievers[name] for name in ("bm25", "dense"))
    allowed = index.catalogue.allowed_passages(day)
    excluded = 0 if allowed is None else len(allowed) - int(allowed.sum())
    print(
        f"{len(texts)} questions, day {day.as_of}: {excluded:,} of {len(index.catalogue.passage_ids):,} "
        "passages not in force"
    )
    stages: list[tuple[str, Callable[[str], object]]] = [
        ("the day's passage mask", lambda _text: index.catalogue.allowed_passages(day)),
        (f"bm25 retriever, depth {depth}, day", lambda text: bm25.search(query(text), depth, day)),
        (f"bm25 retriever, depth {depth}, no filter", lambda text: bm25.search(query(text), depth, None)),
        (f"dense retriever, depth {depth}, day", lambda text: dense.search(query(text), depth, day)),
        (f"dense retriever, depth {depth}, no filter", lambda text: dense.search(query(text), depth, None)),
    ]
    for label, stage in stages:
        print(_row(label, _timed(texts, stage)))
    hits = {text: index.search(text, mode="hybrid", k=args.k) for text in texts}
    index.relevance = type(index.relevance)(
        index.relevance.model, index.vector_store, index.catalogue
    )  # no cache
    print(
        _row(
            f"relevance of {args.k} hybrid hits",
            _timed(texts, lambda text: index.relevance.score(query(text), hits[text])),
        )
    )
    index.embedder.embed_query = lambda text: vectors[text]  # type: ignore[method-assign]
    for mode in ("bm25", "dense", "hybrid"):
        print(
            _row(
                f"search {mode}, k={args.k} (vector given)",
                _timed(texts, lambda text, mode=mode: index.search(text, mode=mode, k=args.k)),
            )
        )


def _timed(texts: list[str], stage: Callable[[str], object]) -> list[float]:
    """CPU milliseconds of ``stage`` per text, after one untimed call."""
    stage(texts[0])
    spent = []
    for text in texts:
        started = time.thread_time()
        stage(text)
        spent.append((time.thread_time() - started) * 1000)
    return spent


def _row(label: str, spent: list[float]) -> str:
    return f"{label:44s} p50 {percentile(spent, 50):7.2f} ms  p95 {percentile(spent, 95):7.2f} ms (CPU)"


if __name__ == "__main__":
    main()
