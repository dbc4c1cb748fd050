"""Each inference backend side by side: query latency, passage throughput and agreement with torch.

    POLICYQA_HOME=data/home .venv/bin/python -m experiments.backend_speed --index-dir data/lawref-index \
        --queries ../shared/eval/stard-train.jsonl --split validation --passages 512

Loads the configured model once per backend (``torch``, ``onnx``, ``onnx-int8``), then, interleaving the
backends so that a busy machine slows them alike: embeds every question alone with one thread (what one
request costs in the server, ``POLICYQA_TORCH_THREADS=1``), and embeds a sample of the index's passages in
length-sorted batches with all cores (what ``policyqa index`` does). Reports the p50 per question, passages
per second, and the least and mean cosine of each backend's vectors to torch's. The numbers behind
docs/decisions/2026-12-01-onnx-backend.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import torch

from policyqa.eval.metrics import percentile
from policyqa.eval.queries import load_queries
from policyqa.eval.split import STARD_SPLIT, load_split, select
from policyqa.indexer import store
from policyqa.indexer.embedder import Embedder
from policyqa.indexer.encoders import BACKENDS
from policyqa.indexer.onnx_encoder import OnnxEncoder
from policyqa.indexer.onnx_serving import ServingEncoder
from policyqa.indexer.settings import load_settings

SEED = 20261201


def sample_passages(index_dir: Path, count: int) -> list[str]:
    """``count`` passage texts of the index in force, drawn with a fixed seed."""
    with closing(sqlite3.connect(store.current_version(index_dir) / store.DATABASE)) as connection:
        texts = [row[0] for row in connection.execute("SELECT text FROM passages ORDER BY id")]
    return random.Random(SEED).sample(texts, min(count, len(texts)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--split", choices=("train", "validation"), default="validation")
    parser.add_argument("--passages", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per backend (best kept)")
    args = parser.parse_args(argv)

    queries = select(load_queries(args.queries), load_split(STARD_SPLIT), args.split)
    questions = [query.question for query in queries]
    passages = sample_passages(args.index_dir, args.passages)
    settings = load_settings()
    embedders = {
        backend: Embedder.from_settings(settings.model_copy(update={"backend": backend}), progress=False)
        for backend in BACKENDS
    }
    cores = os.cpu_count() or 1
    timings = {backend: {"query": [], "passages": []} for backend in BACKENDS}
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for _ in range(args.repeats):
        for backend, embedder in embedders.items():
            encoder, prompts = embedder.encoder, (embedder.query_prompt, embedder.passage_prompt)
            _use_threads(embedder, 1)
            encoder.encode(questions[:5], prompts[0])  # warm-up
            per_query = []
            for question in questions:
                started = time.perf_counter()
                encoder.encode([question], prompts[0])
                per_query.append((time.perf_counter() - started) * 1000)
            timings[backend]["query"].append(percentile(per_query, 50))
            _use_threads(embedder, cores)
            ordered = sorted(passages, key=len)
            started = time.perf_counter()
            batches = [
                encoder.encode(ordered[i : i + settings.batch_size], prompts[1])
                for i in range(0, len(ordered), settings.batch_size)
            ]
            timings[backend]["passages"].append(len(ordered) / (time.perf_counter() - started))
            vectors[backend] = (encoder.encode(questions, prompts[0]), np.concatenate(batches))
    reference = vectors["torch"]
    report = {
        "questions": len(questions),
        "passages": len(passages),
        "cores": cores,
        "backends": {
            backend: {
                "query_ms_p50_1_thread": round(min(timings[backend]["query"]), 2),
                "passages_per_s": round(max(timings[backend]["passages"]), 1),
                "min_cosine_to_torch": round(float(_cosines(vectors[backend], reference).min()), 5),
                "mean_cosine_to_torch": round(float(_cosines(vectors[backend], reference).mean()), 5),
            }
            for backend in BACKENDS
        },
    }
    print(json.dumps(report, indent=2))
    return 0


def _cosines(found: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> np.ndarray:
    return np.concatenate([np.sum(a * b, axis=1) for a, b in zip(found, expected, strict=True)])


def _use_threads(embedder: Embedder, threads: int) -> None:
    torch.set_num_threads(threads)
    if isinstance(embedder.encoder, OnnxEncoder | ServingEncoder):
        embedder.encoder.use_threads(threads)


if __name__ == "__main__":
    sys.exit(main())
