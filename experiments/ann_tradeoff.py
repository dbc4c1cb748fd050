"""Exact or approximate FAISS search: what float16 storage, HNSW and IVF cost in recall, and what they save.

    POLICYQA_HOME=data/home .venv/bin/python -m experiments.ann_tradeoff --index-dir data/lawref-index \
        --queries ../shared/eval/stard-train.jsonl --limit 300

Takes the float32 vectors of an index version (``vectors.npy``), indexes them exactly (float32 inner products:
the reference), as ``policyqa index`` does by default (flat, float16) and with ``--ann hnsw|ivf``, and for
every question compares each index's top k with the exact top k, one thread per search (as one request runs),
timed alone and with a second search of the same index running beside it (what two concurrent requests on 2
cores see: a flat scan is bound by memory traffic). Then it runs dense retrieval over the question file with
each index in place of the index's own, at the search parameters policyqa uses, and judges it like
``policyqa eval --mode dense``. Prints two Markdown tables: the numbers behind docs/indexing.md's ANN advice.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from policyqa.errors import PolicyQAError
from policyqa.eval.errors import EvalError
from policyqa.eval.metrics import percentile
from policyqa.eval.queries import EvalQuery, load_queries
from policyqa.eval.report import metrics_table
from policyqa.eval.runner import evaluate_mode
from policyqa.indexer import PolicyIndex, store
from policyqa.indexer.faiss_store import FaissStore
from policyqa.indexer.settings import load_settings

HNSW_EF_SEARCH = (64, 128, 256)
IVF_NPROBE = (8, 32, 64)
QUALITY_COLUMNS = ("recall@1", "recall@10", "recall@100", "mrr@10")


@dataclass(frozen=True)
class BuiltIndex:
    """A dense index under test: what was asked for (and what it became), the index, its build time."""

    label: str
    dense: FaissStore
    build_seconds: float


@dataclass(frozen=True)
class Probe:
    """One way to search one index: its name, the parameter shown and the FAISS search parameters."""

    name: str
    parameter: str
    parameters: faiss.SearchParameters | None


@dataclass(frozen=True)
class FidelityRow:
    """How one probe did: latency and the share of the exact top k it found."""

    name: str
    parameter: str
    build_seconds: float
    size_mib: float
    p50_ms: float
    p95_ms: float
    p50_ms_paired: float  # with a second search of the same index running at the same time
    recall_of_exact: float


def _size_mib(index: faiss.Index) -> float:
    return len(faiss.serialize_index(index)) / 2**20


def build_exact(vectors: np.ndarray, passage_ids: np.ndarray) -> BuiltIndex:
    """The reference: float32 inner products with every vector."""
    started = time.perf_counter()
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return BuiltIndex("exact (float32)", FaissStore(index, passage_ids), time.perf_counter() - started)


def build_as_policyqa(vectors: np.ndarray, passage_ids: np.ndarray, ann: str) -> BuiltIndex:
    """``vectors`` indexed as ``policyqa index --ann ann`` would (IVF falls back to flat on few passages)."""
    started = time.perf_counter()
    dense = FaissStore.build(vectors, passage_ids, ann)
    seconds = time.perf_counter() - started
    label = ann if dense.ann == ann else f"{ann} (built flat: {len(vectors)} passages)"
    return BuiltIndex("flat (float16, default)" if ann == "flat" else label, dense, seconds)


def _probes(built: BuiltIndex) -> list[Probe]:
    dense = built.dense
    if dense.ann == "hnsw":
        return [
            Probe(built.label, f"efSearch {ef}", faiss.SearchParametersHNSW(efSearch=ef))
            for ef in HNSW_EF_SEARCH
        ]
    if dense.ann == "ivf":
        lists = dense.index.nlist
        return [
            Probe(built.label, f"nprobe {n} of {lists}", faiss.SearchParametersIVF(nprobe=n))
            for n in IVF_NPROBE
            if n <= lists
        ]
    return [Probe(built.label, "every vector", None)]


def _search_all(
    index: faiss.Index, queries: np.ndarray, k: int, parameters: faiss.SearchParameters | None
) -> tuple[list[set[int]], list[float]]:
    """Top-k rows and latency (ms) of each query, searched one at a time."""
    found, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        _scores, rows = index.search(query.reshape(1, -1), k, params=parameters)
        latencies.append((time.perf_counter() - started) * 1000)
        found.append({int(row) for row in rows[0] if row >= 0})
    return found, latencies


def _paired_p50(
    index: faiss.Index, queries: np.ndarray, k: int, parameters: faiss.SearchParameters | None
) -> float:
    """p50 latency of one pass over ``queries`` while a second pass runs in another thread."""
    passes: list[list[float]] = []
    threads = [
        threading.Thread(target=lambda: passes.append(_search_all(index, queries, k, parameters)[1]))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return percentile([latency for latencies in passes for latency in latencies], 50)


def fidelity(built: Sequence[BuiltIndex], query_vectors: np.ndarray, k: int) -> list[FidelityRow]:
    """For each index and each of its probes: latency and share of the exact top ``k`` found (the first
    index must be the exact one)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        exact, _latencies = _search_all(built[0].dense.index, query_vectors, k, None)
        rows = []
        for candidate in built:
            for probe in _probes(candidate):
                found, latencies = _search_all(candidate.dense.index, query_vectors, k, probe.parameters)
                overlap = [
                    len(got & wanted) / len(wanted)
                    for got, wanted in zip(found, exact, strict=True)
                    if wanted
                ]
                rows.append(
                    FidelityRow(
                        probe.name,
                        probe.parameter,
                        candidate.build_seconds,
                        _size_mib(candidate.dense.index),
                        percentile(latencies, 50),
                        percentile(latencies, 95),
                        _paired_p50(candidate.dense.index, query_vectors, k, probe.parameters),
                        float(np.mean(overlap)) if overlap else 1.0,
                    )
                )
        return rows
    finally:
        faiss.omp_set_num_threads(threads)


def dense_quality(
    index: PolicyIndex, built: Sequence[BuiltIndex], queries: list[EvalQuery]
) -> dict[str, dict[str, float]]:
    """Dense-mode metrics over ``queries`` with each index in place (policyqa's own search parameters)."""
    return {
        candidate.label: evaluate_mode(
            index.with_settings(index.settings, vector_store=candidate.dense),
            queries,
            "dense",
            progress=False,
        ).summary()
        for candidate in built
    }


def version_vectors(index_dir: Path) -> np.ndarray:
    """The float32 passage vectors of the version in force (row i: the i-th passage id, ascending)."""
    try:
        return np.load(store.current_version(index_dir) / store.VECTORS)
    except OSError as error:
        raise EvalError(f"cannot read the vectors of the index at {index_dir}: {error}") from error


def embed_questions(index: PolicyIndex, queries: list[EvalQuery], progress: bool) -> np.ndarray:
    """The query vectors of ``queries`` with the index's model and query prompt."""
    vectors = [
        index.embedder.embed_query(query.question)
        for query in tqdm(queries, desc="embedding questions", unit="q", disable=not progress)
    ]
    return np.ascontiguousarray(np.vstack(vectors), dtype=np.float32)


def fidelity_table(rows: list[FidelityRow], k: int) -> str:
    """Markdown: one row per index and search parameter."""
    lines = [
        f"| index | search | build s | size MiB | p50 ms | p95 ms | p50 ms, two at once "
        f"| share of exact top {k} |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {row.name} | {row.parameter} | {row.build_seconds:.1f} | {row.size_mib:.1f} | {row.p50_ms:.2f} | "
        f"{row.p95_ms:.2f} | {row.p50_ms_paired:.2f} | {row.recall_of_exact:.4f} |"
        for row in rows
    ]
    return "\n".join(lines)


def run(
    index: PolicyIndex,
    vectors: np.ndarray,
    queries: list[EvalQuery],
    *,
    k: int = 100,
    progress: bool = True,
) -> tuple[str, str]:
    """Both tables for ``index``, its float32 ``vectors`` and ``queries``."""
    query_vectors = embed_questions(index, queries, progress)
    passage_ids = index.vector_store.passage_ids
    built = [build_exact(vectors, passage_ids)]
    for ann in tqdm(("flat", "hnsw", "ivf"), desc="building indexes", unit="index", disable=not progress):
        built.append(build_as_policyqa(vectors, passage_ids, ann))
    rows = fidelity(built, query_vectors, min(k, len(vectors)))
    quality = dense_quality(index, built, queries)
    return fidelity_table(rows, k), metrics_table(
        quality, row_label="dense search with", columns=QUALITY_COLUMNS
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print both tables; bad input is a one-line error (exit 1)."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.ann_tradeoff", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--queries", type=Path, required=True, help="JSONL question file")
    parser.add_argument(
        "--index-dir", type=Path, help="a folder index (default: POLICYQA_INDEX_DIR or HOME/index)"
    )
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("-k", type=int, default=100, help="how deep to compare with the exact ranking")
    args = parser.parse_args(argv)
    for name, value in (("--limit", args.limit), ("-k", args.k)):
        if value is not None and value < 1:
            parser.error(f"{name} must be at least 1, got {value}")
    try:
        queries = load_queries(args.queries)[: args.limit]
        settings = load_settings()
        index_dir = args.index_dir or settings.resolved_index_dir
        index = PolicyIndex.load(index_dir, settings)
        fidelity_markdown, quality_markdown = run(index, version_vectors(index_dir), queries, k=args.k)
    except PolicyQAError as error:
        print(f"ann_tradeoff: error: {error}", file=sys.stderr)
        return 1
    print(fidelity_markdown)
    print()
    print(quality_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
