"""``policyqa bench``: indexing throughput and peak memory, index size, cold load, query latency, the latency
a configured re-ranker adds, HTTP load; with a peer (``--peer txtai``, eval/peer.py) the same build, load and
query figures of another library beside policyqa's.

Building and cold loading run in fresh (spawned) processes, so their peak RSS and timings are not
flattered or inflated by what this process already holds.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from policyqa.eval.errors import EvalError
from policyqa.eval.files import directory_size
from policyqa.eval.metrics import percentile
from policyqa.eval.peer import peer_lines, run_txtai, txtai_version
from policyqa.eval.queries import load_queries
from policyqa.eval.timing import in_fresh_process, peak_rss_mib, process_tree_memory, timed_searches
from policyqa.indexer import SEARCH_MODES, Embedder, IndexSettings, PolicyIndex, build_index
from policyqa.indexer.cross_encoder import CrossEncoderReranker
from policyqa.indexer.encoders import inference_threads, set_inference_threads
from policyqa.indexer.index import MIN_CANDIDATES
from policyqa.indexer.learned_ranker import LearnedReranker
from policyqa.indexer.lru import LRUCache
from policyqa.indexer.records import Ranking, SearchRequest
from policyqa.indexer.settings import load_settings
from policyqa.indexer.store import current_version
from policyqa.service.settings import load_settings as load_service_settings

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
    workers: int = 1  # server processes of the HTTP benchmark (policyqa serve --workers)
    duration: float = 10.0
    http: bool = True
    fresh_cache: bool = False  # build with an empty embedding cache (honest throughput)
    peer: str | None = None  # also index PATHS with this peer (eval/peer.py) and compare; implies fresh_cache
    # store, milvus_uri, milvus_collection overrides: store=milvus also measures Milvus beside the folder
    store_settings: dict = field(default_factory=dict)


def machine() -> dict:
    """CPU count, threads per inference, memory, load and versions of the machine the numbers come from."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    threads = inference_threads()
    return {
        "cpus": os.cpu_count(),
        "inference_threads": threads,
        "torch_threads": threads,  # the older name of the same figure
        "load_average_1min": round(os.getloadavg()[0], 2),
        "memory_gib": round(memory / 1024**3, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


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
        "passages_per_s": manifest["passages"] / build_seconds,
        "peak_rss_mib": peak_rss_mib(),
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
    return {"load_s": load_seconds, "first_query_ms": first_query_ms, "peak_rss_mib": peak_rss_mib()}


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


def query_latencies(
    index: PolicyIndex, questions: list[str], modes: tuple[str, ...], *, k: int = 10, cached: bool = False
) -> dict[str, dict]:
    """Steady-state in-process latency of every question per mode (``timed_searches``: an untimed pass
    first; ``cold_load`` reports the first query). Without ``cached`` the query-embedding cache is off, so
    every timed query is embedded; with it, it holds every question: what repeated portal queries cost."""
    index.embedder.query_cache = LRUCache(len(questions) if cached else 0)
    return {
        mode: timed_searches(
            lambda question, mode=mode: index.search(question, mode=mode, k=k), questions, label=mode
        )
        for mode in modes
    }


def fused_cases(
    index: PolicyIndex, questions: list[str], depth: int
) -> list[tuple[SearchRequest, Ranking, dict[str, Ranking]]]:
    """Each question's hybrid request, fused ranking (re-ranker off) and retriever rankings, ``depth`` deep:
    what a re-rank stage is handed, computed before its latency is timed."""
    fused = index.with_settings(index.settings.model_copy(update={"rerank": "off"})).pipeline
    cases = []
    for question in questions:
        request = SearchRequest(index.query(question), "hybrid", depth)
        rankings = fused.rankings(request)
        cases.append((request, fused.combine(request, rankings), rankings))
    return cases


def rerank_latencies(
    index: PolicyIndex, questions: list[str], depths: tuple[int, ...] = RERANK_DEPTHS
) -> dict[str, dict]:
    """The latency the cross-encoder adds to a hybrid search, p50/p95 in ms per question, re-ranking each
    question's fused top N for every N of ``depths`` (the stage alone: the fused rankings are computed first).

    One untimed pass at the smallest depth runs first, like ``query_latencies``' warm-up."""
    reranker = index.pipeline.reranker
    if not isinstance(reranker, CrossEncoderReranker):
        raise EvalError("no cross-encoder re-ranker is configured (POLICYQA_RERANK=on)")
    cases = fused_cases(index, questions, MIN_CANDIDATES)
    warm_up = reranker.with_top_n(min(depths))
    for request, ranking, rankings in tqdm(cases, desc="warm-up re-rank", unit="q"):
        warm_up.rerank(request, ranking, rankings)
    latencies = {}
    for depth in depths:
        stage = reranker.with_top_n(depth)
        timings = []
        for request, ranking, rankings in tqdm(cases, desc=f"re-rank top {depth}", unit="q"):
            started = time.perf_counter()
            stage.rerank(request, ranking, rankings)
            timings.append((time.perf_counter() - started) * 1000)
        latencies[str(depth)] = {
            "queries": len(timings),
            **{f"latency_ms_p{q}": percentile(timings, q) for q in (50, 95)},
        }
    return {"model": reranker.encoder.model_id, "configured_top_n": reranker.top_n, "added": latencies}


def learned_ranker_latency(index: PolicyIndex, questions: list[str]) -> dict:
    """The latency the learned ranker adds to a hybrid search, p50/p95 in ms (the stage alone, on each
    question's fused candidates at the depth it needs), and how many candidates it scored."""
    stage = index.pipeline.reranker
    assert isinstance(stage, LearnedReranker) and stage.model is not None
    cases = fused_cases(index, questions, stage.depth)
    stage.rerank(*cases[0])  # warm-up
    timings = []
    for case in tqdm(cases, desc="learned ranker", unit="q"):
        started = time.perf_counter()
        stage.rerank(*case)
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "model": stage.model.model_id,
        "trees": stage.model.provenance.get("trees"),
        "queries": len(timings),
        "candidates_p50": percentile([len(ranking) for _request, ranking, _rankings in cases], 50),
        **{f"added_ms_p{q}": percentile(timings, q) for q in (50, 95)},
    }


def run_bench(config: BenchConfig) -> dict:
    """Measure everything ``config`` asks for; returns a JSON-ready dict."""
    if config.paths and config.index_dir is None:
        raise EvalError(
            "building needs an explicit --index-dir (its index is replaced), e.g. /tmp/bench-index"
        )
    if config.peer:
        if not config.paths:
            raise EvalError(
                f"--peer {config.peer} needs PATHS: the peer indexes the documents the bench builds from"
            )
        txtai_version()  # installed? (before the build, not after it)
    settings = load_settings()
    # in-process figures computed as the server computes them (builds run in fresh processes, all cores)
    set_inference_threads(load_service_settings().torch_threads)
    index_dir = config.index_dir or settings.resolved_index_dir
    questions = [query.question for query in load_queries(config.queries)]
    result: dict = {"machine": machine(), "index_dir": str(index_dir), "backend": settings.backend}
    if config.paths:
        with _build_home(settings, fresh=config.fresh_cache or config.peer is not None) as home:
            result["build"] = in_fresh_process(_build_child, config.paths, index_dir, home)
    result["cold_load"] = in_fresh_process(_load_child, index_dir, questions[0])
    result["index"] = {"size_mib": directory_size(current_version(index_dir)) / MIB}
    index = PolicyIndex.load(index_dir, settings)
    result["index"].update(documents=index.manifest["documents"], clauses=index.manifest["clauses"])
    result["query"] = query_latencies(index, questions, config.modes)
    result["query_cached"] = query_latencies(index, questions, config.modes, cached=True)
    if settings.rerank == "on":
        result["rerank"] = rerank_latencies(index, questions)
    if isinstance(index.pipeline.reranker, LearnedReranker) and index.pipeline.reranker.model is not None:
        result["learned_ranker"] = learned_ranker_latency(index, questions)
    del index
    if config.peer:
        result["peer"] = run_txtai(result, config.paths, questions, config.modes, settings.ann)
    if config.http:
        result.update(_http_bench(index_dir, questions, config))
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
        from policyqa.eval.http_load import ENDPOINTS, load_test, running_server, send_each
    except ImportError as error:
        raise EvalError(
            f"the HTTP benchmark needs httpx ({error}); pip install httpx, or pass --no-http"
        ) from None
    results: dict[str, dict] = {}
    for key, cache_size in (("http", 0), ("http_cached", len(questions))):
        settings = {"POLICYQA_QUERY_CACHE_SIZE": str(cache_size), "POLICYQA_WORKERS": str(config.workers)}
        with running_server(index_dir, settings=settings) as (base_url, process):
            if cache_size:  # every question asked once before: what repeated portal queries cost
                send_each(base_url, "/search", questions, concurrency=config.concurrency)
            results[key] = {
                endpoint: load_test(
                    base_url, endpoint, questions, concurrency=config.concurrency, duration=config.duration
                ).as_dict()
                for endpoint in ENDPOINTS
            }
            if key == "http":
                results["server_memory"] = {"workers": config.workers, **process_tree_memory(process.pid)}
    return results


def bench_table(result: dict) -> str:
    """The benchmark as readable Markdown."""
    info = result["machine"]
    lines = [
        f"Backend: {result['backend']}; query-embedding cache off unless a row says on",
        f"Machine: {info['cpus']} CPUs ({info['inference_threads']} thread(s) per inference, load average "
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
    for label, cache in (("", "query"), (" (cache on)", "query_cached")):
        for mode, row in result[cache].items():
            lines.append(
                f"| {mode}{label} | {row['queries']} | {row['latency_ms_p50']:.1f} "
                f"| {row['latency_ms_p95']:.1f} | {row['latency_ms_p99']:.1f} |"
            )
    if "rerank" in result:
        lines += rerank_lines(result["rerank"])
    if "learned_ranker" in result:
        ranker = result["learned_ranker"]
        lines += [
            "",
            f"Learned ranker ({ranker['trees']} trees, {ranker['candidates_p50']:.0f} candidates per "
            f"question, included in hybrid above): adds p50 {ranker['added_ms_p50']:.1f} ms, "
            f"p95 {ranker['added_ms_p95']:.1f} ms",
        ]
    if "peer" in result:
        lines += peer_lines(result["peer"])
    if "milvus" in result:
        lines += milvus_lines(result["milvus"], result["query"])
    if "http" in result:
        memory = result["server_memory"]
        lines += [
            "",
            f"Server: {memory['workers']} worker(s), {memory['processes']} processes after the load below: "
            f"RSS {memory['rss_mib']:,.0f} MiB summed (shared pages counted in each), PSS "
            f"{memory['pss_mib']:,.0f} MiB (what they cost together)",
            "",
            "| HTTP endpoint | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = [(endpoint, row) for endpoint, row in result["http"].items()]
        rows += [(f"{endpoint} (cache on)", row) for endpoint, row in result["http_cached"].items()]
        for endpoint, row in rows:
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
