"""``policyqa bench``: indexing throughput and peak memory, index size, cold load, query latency, the latency
a configured re-ranker adds, HTTP load.

Building and cold loading run in fresh (spawned) processes, so their peak RSS and timings are not
flattered or inflated by what this process already holds.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from policyqa.eval.errors import EvalError
from policyqa.eval.files import directory_size
from policyqa.eval.metrics import percentile
from policyqa.eval.queries import load_queries
from policyqa.indexer import SEARCH_MODES, Embedder, IndexSettings, PolicyIndex, build_index
from policyqa.indexer.cross_encoder import CrossEncoderReranker
from policyqa.indexer.index import MIN_CANDIDATES
from policyqa.indexer.records import SearchRequest
from policyqa.indexer.settings import load_settings
from policyqa.indexer.store import current_version

MIB = 1024 * 1024
RERANK_DEPTHS = (10, 20, 50)  # how many fused candidates the re-ranker's added latency is measured at


@dataclass(frozen=True)
class BenchConfig:
    """What to measure."""

    paths: tuple[Path, ...]  # build an index from these first; empty = measure the existing index
    index_dir: Path | None
    queries: Path
    modes: tuple[str, ...]
    concurrency: int = 16
    duration: float = 10.0
    http: bool = True
    fresh_cache: bool = False  # build with an empty embedding cache (honest throughput)
    # store, milvus_uri, milvus_collection overrides: store=milvus also measures Milvus beside the folder
    store_settings: dict = field(default_factory=dict)


def machine() -> dict:
    """CPU count, memory, load and versions of the machine the numbers come from."""
    import torch

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "memory_gib": round(memory / 1024**3, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _build_child(paths: tuple[Path, ...], index_dir: Path, home: Path | None) -> dict:
    """Runs in a fresh process: load the model, build the index, report timings and peak RSS.

    ``home`` replaces POLICYQA_HOME (a fresh embedding cache) when given.
    """
    settings = load_settings(home=home)
    started = time.perf_counter()
    embedder = Embedder.from_settings(settings)
    model_seconds = time.perf_counter() - started
    started = time.perf_counter()
    manifest = build_index(list(paths), index_dir, settings, embedder=embedder)
    build_seconds = time.perf_counter() - started
    return {
        "documents": manifest["documents"],
        "clauses": manifest["clauses"],
        "passages": manifest["passages"],
        "fresh_cache": home is not None,
        "model_load_s": model_seconds,
        "build_s": build_seconds,
        "clauses_per_s": manifest["clauses"] / build_seconds,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _load_child(index_dir: Path, question: str) -> dict:
    """Runs in a fresh process: time a cold load (model included) and the first query of each mode."""
    settings = load_settings()
    started = time.perf_counter()
    index = PolicyIndex.load(index_dir, settings)
    load_seconds = time.perf_counter() - started
    first_query_ms = {}
    for mode in SEARCH_MODES:
        started = time.perf_counter()
        index.search(question, mode=mode, k=10)
        first_query_ms[mode] = (time.perf_counter() - started) * 1000
    return {"load_s": load_seconds, "first_query_ms": first_query_ms, "peak_rss_mib": _peak_rss_mib()}


@contextlib.contextmanager
def _build_home(settings: IndexSettings, *, fresh: bool) -> Iterator[Path | None]:
    """None (use the configured home), or a temporary home sharing the configured model folder but with
    an empty embedding cache, so every passage is embedded."""
    if not fresh:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="policyqa-bench-") as temporary:
        home = Path(temporary)
        settings.model_cache_dir.mkdir(parents=True, exist_ok=True)
        (home / settings.model_cache_dir.name).symlink_to(settings.model_cache_dir.resolve())
        yield home


def _in_fresh_process(function, *args) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def query_latencies(
    index: PolicyIndex, questions: list[str], modes: tuple[str, ...], *, k: int = 10
) -> dict[str, dict]:
    """Steady-state in-process latency of every question per mode: p50/p95/p99 in ms.

    Each mode first runs every question once untimed: the model's kernels are prepared per input length,
    so a first pass is slower than what a warmed-up server sees (``cold_load`` reports the first query).
    """
    latencies = {}
    for mode in modes:
        for question in tqdm(questions, desc=f"warm-up {mode}", unit="q"):
            index.search(question, mode=mode, k=k)
        timings = []
        for question in tqdm(questions, desc=f"bench {mode}", unit="q"):
            started = time.perf_counter()
            index.search(question, mode=mode, k=k)
            timings.append((time.perf_counter() - started) * 1000)
        latencies[mode] = {
            "queries": len(timings),
            **{f"latency_ms_p{q}": percentile(timings, q) for q in (50, 95, 99)},
        }
    return latencies


def rerank_latencies(
    index: PolicyIndex, questions: list[str], depths: tuple[int, ...] = RERANK_DEPTHS
) -> dict[str, dict]:
    """The latency the cross-encoder adds to a hybrid search, p50/p95 in ms per question, re-ranking each
    question's fused top N for every N of ``depths`` (the stage alone: the fused rankings are computed first).

    One untimed pass at the smallest depth runs first, like ``query_latencies``' warm-up."""
    reranker = index.pipeline.reranker
    if not isinstance(reranker, CrossEncoderReranker):
        raise EvalError("no cross-encoder re-ranker is configured (POLICYQA_RERANK=on)")
    fused = index.with_settings(index.settings.model_copy(update={"rerank": "off"})).pipeline
    cases = []
    for question in questions:
        request = SearchRequest(index.query(question), "hybrid", MIN_CANDIDATES)
        cases.append((request, fused.combine(request, fused.rankings(request))))
    warm_up = reranker.with_top_n(min(depths))
    for request, ranking in tqdm(cases, desc="warm-up re-rank", unit="q"):
        warm_up.rerank(request, ranking)
    latencies = {}
    for depth in depths:
        stage = reranker.with_top_n(depth)
        timings = []
        for request, ranking in tqdm(cases, desc=f"re-rank top {depth}", unit="q"):
            started = time.perf_counter()
            stage.rerank(request, ranking)
            timings.append((time.perf_counter() - started) * 1000)
        latencies[str(depth)] = {
            "queries": len(timings),
            **{f"latency_ms_p{q}": percentile(timings, q) for q in (50, 95)},
        }
    return {"model": reranker.encoder.model_id, "configured_top_n": reranker.top_n, "added": latencies}


def run_bench(config: BenchConfig) -> dict:
    """Measure everything ``config`` asks for; returns a JSON-ready dict."""
    if config.paths and config.index_dir is None:
        raise EvalError(
            "building needs an explicit --index-dir (its index is replaced), e.g. /tmp/bench-index"
        )
    settings = load_settings()
    index_dir = config.index_dir or settings.resolved_index_dir
    questions = [query.question for query in load_queries(config.queries)]
    result: dict = {"machine": machine(), "index_dir": str(index_dir)}
    if config.paths:
        with _build_home(settings, fresh=config.fresh_cache) as home:
            result["build"] = _in_fresh_process(_build_child, config.paths, index_dir, home)
    result["cold_load"] = _in_fresh_process(_load_child, index_dir, questions[0])
    result["index"] = {"size_mib": directory_size(current_version(index_dir)) / MIB}
    index = PolicyIndex.load(index_dir, settings)
    result["index"].update(documents=index.manifest["documents"], clauses=index.manifest["clauses"])
    result["query"] = query_latencies(index, questions, config.modes)
    if settings.rerank != "off":
        result["rerank"] = rerank_latencies(index, questions)
    del index
    if config.http:
        result["http"] = _http_bench(index_dir, questions, config)
    milvus_settings = load_settings(**config.store_settings)
    if milvus_settings.store == "milvus":
        result["milvus"] = milvus_bench(index_dir, milvus_settings, questions, config.modes)
    return result


def milvus_bench(
    index_dir: Path, settings: IndexSettings, questions: list[str], modes: tuple[str, ...]
) -> dict:
    """The Milvus store next to the folder: copying the folder index in force into a new collection
    (passages/s; the vectors are copied, not embedded), loading it (the catalogue a replica caches) and the
    same query latencies."""
    from policyqa.indexer.milvus_store import migrate_folder

    started = time.perf_counter()
    manifest = migrate_folder(index_dir, settings)
    copy_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index = PolicyIndex.load(index_dir, settings)
    load_seconds = time.perf_counter() - started
    return {
        "uri": settings.resolved_milvus_uri,
        "collection": settings.milvus_collection,
        "passages": manifest["passages"],
        "copy_s": copy_seconds,
        "passages_per_s": manifest["passages"] / copy_seconds,
        "load_s": load_seconds,
        "query": query_latencies(index, questions, modes),
    }


def _http_bench(index_dir: Path, questions: list[str], config: BenchConfig) -> dict:
    try:
        from policyqa.eval.http_load import ENDPOINTS, load_test, running_server
    except ImportError as error:
        raise EvalError(
            f"the HTTP benchmark needs httpx ({error}); pip install httpx, or pass --no-http"
        ) from None
    with running_server(index_dir) as base_url:
        return {
            endpoint: load_test(
                base_url, endpoint, questions, concurrency=config.concurrency, duration=config.duration
            ).as_dict()
            for endpoint in ENDPOINTS
        }


def bench_table(result: dict) -> str:
    """The benchmark as readable Markdown."""
    info = result["machine"]
    lines = [
        f"Machine: {info['cpus']} CPUs ({info['torch_threads']} torch threads, load average "
        f"{info['load_average_1min']} at start), {info['memory_gib']} GiB RAM, {info['platform']}, "
        f"Python {info['python']}",
        f"Index: {result['index_dir']}",
        "",
    ]
    if "build" in result:
        build = result["build"]
        lines.append(
            f"- build: {build['documents']} documents, {build['clauses']} clauses, "
            f"{build['passages']} passages "
            f"({'empty' if build['fresh_cache'] else 'existing'} embedding cache) "
            f"in {build['build_s']:.1f} s "
            f"({build['clauses_per_s']:.1f} clauses/s; model load {build['model_load_s']:.1f} s), "
            f"peak RSS {build['peak_rss_mib']:.0f} MiB"
        )
    index, cold = result["index"], result["cold_load"]
    first = ", ".join(f"{mode} {ms:.0f} ms" for mode, ms in cold["first_query_ms"].items())
    lines += [
        f"- index: {index['documents']} documents, {index['clauses']} clauses, "
        f"{index['size_mib']:.1f} MiB on disk",
        f"- cold load (fresh process, model included): {cold['load_s']:.1f} s, peak RSS "
        f"{cold['peak_rss_mib']:.0f} MiB; first query: {first}",
        "",
        "| in-process query | queries | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, row in result["query"].items():
        lines.append(
            f"| {mode} | {row['queries']} | {row['latency_ms_p50']:.1f} | {row['latency_ms_p95']:.1f} "
            f"| {row['latency_ms_p99']:.1f} |"
        )
    if "rerank" in result:
        lines += rerank_lines(result["rerank"])
    if "milvus" in result:
        lines += milvus_lines(result["milvus"], result["query"])
    if "http" in result:
        lines += [
            "",
            "| HTTP endpoint | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for endpoint, row in result["http"].items():
            lines.append(
                f"| {endpoint} | {row['concurrency']} | {row['requests']} | {row['errors']} "
                f"| {row['requests_per_second']:.1f} | {row['latency_ms_p50']:.0f} "
                f"| {row['latency_ms_p95']:.0f} | {row['latency_ms_p99']:.0f} |"
            )
    return "\n".join(lines)


def milvus_lines(milvus: dict, folder: dict[str, dict]) -> list[str]:
    """The Milvus store's measurements (``milvus_bench``) beside the folder store's query latencies."""
    lines = [
        "",
        f"Milvus {milvus['uri']} (collection {milvus['collection']}): {milvus['passages']} passages "
        f"copied from the folder in {milvus['copy_s']:.1f} s ({milvus['passages_per_s']:.0f} passages/s), "
        f"loaded (catalogue cached) in {milvus['load_s']:.1f} s",
        "",
        "| in-process query | folder p50 ms | milvus p50 ms | folder p95 ms | milvus p95 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, row in milvus["query"].items():
        lines.append(
            f"| {mode} | {folder[mode]['latency_ms_p50']:.1f} | {row['latency_ms_p50']:.1f} "
            f"| {folder[mode]['latency_ms_p95']:.1f} | {row['latency_ms_p95']:.1f} |"
        )
    return lines


def rerank_lines(rerank: dict) -> list[str]:
    """The re-ranker's added latency (``rerank_latencies``) as Markdown lines."""
    lines = [
        "",
        f"Re-ranker {rerank['model']} (hybrid above re-ranks the top {rerank['configured_top_n']}):",
        "",
        "| re-rank top N | queries | added p50 ms | added p95 ms |",
        "|---|---:|---:|---:|",
    ]
    for depth, row in rerank["added"].items():
        lines.append(
            f"| {depth} | {row['queries']} | {row['latency_ms_p50']:.1f} | {row['latency_ms_p95']:.1f} |"
        )
    return lines
