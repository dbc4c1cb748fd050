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


def process_tree_memory(pid: int) -> dict:
    """Memory of process ``pid`` and its descendants (a server's master and workers), from /proc's
    smaps_rollup: ``rss_mib`` counts a page shared by two processes twice, ``pss_mib`` (proportional set
    size) charges each process its share of it, so the PSS sum is what the tree costs the machine."""
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            pending += [int(child) for child in (task / "children").read_text().split()]
    totals = {"Rss": 0, "Pss": 0}
    for current in pids:
        for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
            key = line.split(":")[0]
            if key in totals:
                totals[key] += int(line.split()[1])  # kB
    return {"processes": len(pids), "rss_mib": totals["Rss"] / 1024, "pss_mib": totals["Pss"] / 1024}


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
