"""``policyqa bench --peer txtai``: the bench's documents indexed and searched with txtai, measured like
policyqa's own build, cold load and queries, side by side.

The peer gets what policyqa indexes: the documents are parsed with policyqa's parser and cut into passages
with its passage code (same texts, same token budget), embedded with the configured model (adapter merged,
saved once as a plain sentence-transformers folder) and the same query/passage prompts (txtai's
``instructions``), stored in FAISS with the index type policyqa uses (exact by default). One txtai index is
built per search mode, each in a fresh process: ``keyword`` (txtai's BM25), dense, and ``hybrid`` (both,
txtai's score fusion); txtai cannot leave out one half of a hybrid index at search time. Differences that
remain are listed in docs/evaluation.md.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
import time
from pathlib import Path

from policyqa.eval.errors import EvalError
from policyqa.eval.timing import in_fresh_process, peak_rss_mib, timed_searches

# the CLI imports PEERS: the indexer, corpus and txtai are imported inside the functions (most run in fresh
# processes), so `policyqa` starts without them
PEERS = ("txtai",)
FAISS_COMPONENTS = {"flat": "IDMap,Flat", "hnsw": "IDMap,HNSW32", "ivf": "IVF,Flat"}  # policyqa's ann types
K = 10

# each side-by-side figure: (key, label, section, field); the peer's value is peer[section][field], policyqa's
# the same field of its build, cold load or (per mode) query
COMPARED = (
    ("build_s", "build s", "build", "build_s"),
    ("passages_per_s", "passages/s", "build", "passages_per_s"),
    ("build_peak_rss_mib", "build peak RSS MiB", "build", "peak_rss_mib"),
    ("load_s", "cold load s", "load", "load_s"),
    ("load_peak_rss_mib", "loaded peak RSS MiB", "load", "peak_rss_mib"),
    ("latency_ms_p50", "query p50 ms", "query", "latency_ms_p50"),
    ("latency_ms_p95", "query p95 ms", "query", "latency_ms_p95"),
)
POLICYQA_SECTIONS = {"build": "build", "load": "cold_load", "query": "query"}


def txtai_version() -> str:
    """The installed txtai's version; EvalError naming the extra to install when it is missing."""
    try:
        return importlib.metadata.version("txtai")
    except importlib.metadata.PackageNotFoundError:
        raise EvalError("--peer txtai needs txtai: pip install 'policyqa[bench]'") from None


def _export_child(folder: Path) -> dict:
    """Runs in a fresh process: load the configured model (adapter merged) and save it to ``folder`` as a
    plain sentence-transformers model without prompts (txtai prepends them itself as ``instructions``)."""
    from policyqa.indexer.model_loading import load_model
    from policyqa.indexer.settings import load_settings

    loaded = load_model(load_settings())
    loaded.model.prompts = {}
    loaded.model.default_prompt_name = None
    loaded.model.save(str(folder))
    return {
        "folder": str(folder),
        "model_id": loaded.model_id,
        "query_prompt": loaded.query_prompt,
        "passage_prompt": loaded.passage_prompt,
        "max_tokens": loaded.model.max_seq_length,
    }


def txtai_config(mode: str, model: dict, ann: str) -> dict:
    """txtai's configuration for one search mode: content stored (a hit carries its text, as policyqa's
    do); BM25 for ``bm25``; the exported model, its prompts and FAISS for ``dense``; both for ``hybrid``."""
    config: dict = {"content": True}
    if mode == "bm25":
        return config | {"keyword": True}
    config |= {
        "path": model["folder"],
        "method": "sentence-transformers",
        "instructions": {"query": model["query_prompt"], "data": model["passage_prompt"]},
        "backend": "faiss",
        "faiss": {"components": FAISS_COMPONENTS[ann]},
        "gpu": False,
    }
    return config | {"hybrid": True} if mode == "hybrid" else config


def peer_passages(paths: tuple[Path, ...], model: dict) -> list[str]:
    """The texts of the passages policyqa indexes from ``paths``: its parser, its passage code, the model's
    tokenizer and token budget."""
    from transformers import AutoTokenizer

    from policyqa.corpus.parse import parse_paths
    from policyqa.indexer.passages import clause_passages

    tokenizer = AutoTokenizer.from_pretrained(model["folder"])

    def count_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    documents, _errors = parse_paths(paths)
    return [
        passage.text
        for parsed in documents
        if parsed.clauses
        for passage in clause_passages(parsed.document, parsed.clauses, count_tokens, model["max_tokens"])
    ]


def _quiet_transformers() -> None:
    """No per-tensor progress bars and load reports from transformers when txtai loads the model."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def _build_child(paths: tuple[Path, ...], model: dict, mode: str, ann: str, folder: Path) -> dict:
    """Runs in a fresh process: parse and cut passages (policyqa's code), index them with txtai, save."""
    from txtai import Embeddings

    _quiet_transformers()
    started = time.perf_counter()
    embeddings = Embeddings(txtai_config(mode, model, ann))
    model_seconds = time.perf_counter() - started
    started = time.perf_counter()
    texts = peer_passages(paths, model)
    prepare_seconds = time.perf_counter() - started
    started = time.perf_counter()
    embeddings.index((row, text, None) for row, text in enumerate(texts))
    embeddings.save(str(folder))
    index_seconds = time.perf_counter() - started
    build_seconds = prepare_seconds + index_seconds
    return {
        "passages": len(texts),
        "model_load_s": model_seconds,
        "prepare_s": prepare_seconds,
        "index_s": index_seconds,
        "build_s": build_seconds,
        "passages_per_s": len(texts) / build_seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


def _load_child(folder: Path, questions: list[str]) -> dict:
    """Runs in a fresh process: a cold load (model included), the first query, then steady-state latency
    of every question (after an untimed pass)."""
    from txtai import Embeddings

    _quiet_transformers()
    started = time.perf_counter()
    embeddings = Embeddings()
    embeddings.load(str(folder))
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    embeddings.search(questions[0], K)
    load = {"load_s": load_seconds, "first_query_ms": (time.perf_counter() - started) * 1000}
    load["peak_rss_mib"] = peak_rss_mib()
    query = timed_searches(lambda question: embeddings.search(question, K), questions, label="txtai")
    return {"load": load, "query": query}


def run_txtai(
    result: dict,
    paths: tuple[Path, ...],
    questions: list[str],
    modes: tuple[str, ...],
    ann: str,
) -> dict:
    """txtai's build, cold load and query figures per mode, each beside policyqa's from ``result`` (a bench
    result with ``build``, ``cold_load`` and ``query``) and their ratio txtai / policyqa."""
    version = txtai_version()
    with tempfile.TemporaryDirectory(prefix="policyqa-peer-") as temporary:
        workspace = Path(temporary)
        model = in_fresh_process(_export_child, workspace / "model")
        measured = {}
        for mode in modes:
            folder = workspace / f"txtai-{mode}"
            build = in_fresh_process(_build_child, paths, model, mode, ann, folder)
            measured[mode] = {"build": build, **in_fresh_process(_load_child, folder, questions)}
    for mode, peer in measured.items():
        peer["compared"] = {
            key: _comparison(_policyqa_value(result, section, field, mode), peer[section][field])
            for key, _label, section, field in COMPARED
        }
    return {
        "name": "txtai",
        "version": version,
        "model": model["model_id"],
        "faiss": FAISS_COMPONENTS[ann],
        "modes": measured,
    }


def _policyqa_value(result: dict, section: str, field: str, mode: str) -> float:
    measured = result[POLICYQA_SECTIONS[section]]
    return (measured[mode] if section == "query" else measured)[field]


def _comparison(policyqa: float, txtai: float) -> dict:
    return {"policyqa": policyqa, "txtai": txtai, "ratio": txtai / policyqa}


def peer_lines(peer: dict) -> list[str]:
    """The side-by-side as Markdown lines: each figure per mode, policyqa's, the peer's and the ratio."""
    labels = {key: label for key, label, _section, _field in COMPARED}
    lines = [
        "",
        f"Peer: {peer['name']} {peer['version']} on the same passages, model ({peer['model']}) and prompts, "
        f"FAISS {peer['faiss']}; one {peer['name']} index per mode; ratio = {peer['name']} / policyqa:",
        "",
        f"| figure | mode | policyqa | {peer['name']} | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for key, label in labels.items():
        for mode, measured in peer["modes"].items():
            row = measured["compared"][key]
            lines.append(
                f"| {label} | {mode} | {_figure(row['policyqa'])} | {_figure(row['txtai'])} "
                f"| {_figure(row['ratio'])} |"
            )
    return lines


def _figure(value: float) -> str:
    """Three significant digits, whole numbers from 100 up (0.00263, 2.5, 17.4, 1,339)."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
