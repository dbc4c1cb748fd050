"""Passage batches by padded-token budget: CPU time and peak memory of embedding the longest passages.

    POLICYQA_HOME=data/home .venv/bin/python -m experiments.passage_batches --index-dir data/lawref-index-v2 \
        --passages 256 --budgets 2048 4096 8192 1000000

Each budget runs in a fresh process (peak RSS is per process) with one inference thread: the index's N longest
passages, token-sorted and cut into batches of at most 32 passages and the budget's padded tokens, embedded
with the configured backend (no cache). Prints CPU seconds, batches and peak RSS per budget. The numbers
behind docs/decisions/2026-12-02-passage-batches.md.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from policyqa.indexer import store
from policyqa.indexer.embedder import Embedder, padded_batches
from policyqa.indexer.encoders import set_inference_threads
from policyqa.indexer.settings import load_settings

BATCH_SIZE = 32


def longest_passages(index_dir: Path, count: int) -> list[str]:
    """The ``count`` longest passage texts of the index in force."""
    version = store.current_version(index_dir)
    with closing(sqlite3.connect(version / "index.sqlite")) as connection:
        query = "SELECT text FROM passages ORDER BY length(text) DESC LIMIT ?"
        return [row[0] for row in connection.execute(query, (count,))]


def measure(index_dir: Path, count: int, budget: int) -> str:
    """Embed the longest passages in batches under ``budget``; one line of figures."""
    set_inference_threads(1)
    embedder = Embedder.from_settings(load_settings(), progress=False)
    texts = longest_passages(index_dir, count)
    tokens = embedder.count_tokens(texts)
    order = sorted(range(len(texts)), key=tokens.__getitem__)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.process_time()
    batches = 0
    for start, end in padded_batches([tokens[i] for i in order], BATCH_SIZE, budget):
        embedder.encoder.encode([texts[i] for i in order[start:end]], embedder.passage_prompt)
        batches += 1
    seconds = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"budget {budget:>8}: {batches:>3} batches, CPU {seconds:6.1f} s, "
        f"peak RSS {peak:,.0f} MB (model loaded: {loaded:,.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--passages", type=int, default=256, help="the N longest passages")
    parser.add_argument("--budgets", type=int, nargs="+", default=[2048, 4096, 8192, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: one budget
    args = parser.parse_args()
    if args.one is not None:
        print(measure(args.index_dir, args.passages, args.one), flush=True)
        return
    for budget in args.budgets:
        command = [sys.executable, "-m", "experiments.passage_batches", "--index-dir", str(args.index_dir)]
        subprocess.run([*command, "--passages", str(args.passages), "--one", str(budget)], check=True)


if __name__ == "__main__":
    main()
