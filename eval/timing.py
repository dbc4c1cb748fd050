"""What the benchmark's measurements share: fresh spawned processes, their peak RSS, steady-state latency."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sized
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from policyqa.eval.metrics import percentile


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB: the high-water mark of its own memory since it started
    (/proc's VmHWM). Not getrusage's ru_maxrss, which Linux carries across exec: a spawned child would
    report at least the RSS of the parent it was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("/proc/self/status has no VmHWM line")


def in_fresh_process(function: Callable[..., dict], *args: object) -> dict:
    """``function(*args)`` in a freshly spawned interpreter: what this process holds does not count."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def timed_searches(search: Callable[[str], Sized], questions: list[str], *, label: str) -> dict:
    """Steady-state latency of ``search`` over every question: p50/p95/p99 in ms, and how many questions
    got at least one hit.

    Every question first runs once untimed: the model's kernels are prepared per input length, so a first
    pass is slower than what a warmed-up server sees.
    """
    with_hits = sum(bool(search(question)) for question in tqdm(questions, desc=f"warm-up {label}", unit="q"))
    timings = []
    for question in tqdm(questions, desc=f"bench {label}", unit="q"):
        started = time.perf_counter()
        search(question)
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "queries": len(timings),
        "questions_with_hits": with_hits,
        **{f"latency_ms_p{q}": percentile(timings, q) for q in (50, 95, 99)},
    }
