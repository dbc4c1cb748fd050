"""The numbers behind issue 13's "done when": a real server, hostile load, measured (never asserted).

    POLICYQA_HOME=data/home .venv/bin/python -m experiments.reliability --index-dir data/lawref-index

1. **Bomb**: a .docx whose body inflates to ``--bomb-mib`` MiB (1 GiB by default; the probe's was 3.7 MB
   on the wire) is uploaded with the write key: time to the refusal, the server's peak RSS (server and
   its children, sampled every 20 ms from /proc), and /health latency throughout.
2. **Storm**: ``--asks`` concurrent ``POST /ask`` with the largest k (10): how many answered, how many got
   503 with Retry-After, the slowest one against the configured budget, /health latency throughout.
3. **Checksums**: the cost of hashing every file of the version in force (SHA-256, the recorded hash, and
   BLAKE2b for comparison), and the cost of a full ``policyqa index --verify``.

Prints one Markdown table per part.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

from policyqa.eval import hostile
from policyqa.eval.queries import SEED_QUESTIONS, load_queries
from policyqa.eval.server import free_port, policyqa_command, running_server
from policyqa.indexer import store
from policyqa.indexer.index import verify_index
from policyqa.service.answers import MAX_ASK_K
from policyqa.service.settings import load_settings

MIB = 1024 * 1024


class Sampler:
    """Samples, in a thread: /health latency (ms, or the error) and the RSS of a process tree (bytes)."""

    def __init__(self, url: str, pid: int | None):
        self.url, self.pid = url, pid
        self.health_ms: list[float] = []
        self.health_failures = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._health), threading.Thread(target=self._rss)]

    def __enter__(self) -> Sampler:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _health(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get("/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.health_ms.append((time.perf_counter() - started) * 1000)
                else:
                    self.health_failures += 1
                self._stop.wait(0.05)

    def _rss(self) -> None:
        while self.pid and not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, tree_rss(self.pid))
            self._stop.wait(0.02)

    def health_summary(self) -> str:
        if not self.health_ms:
            return f"none answered ({self.health_failures} failed)"
        ordered = sorted(self.health_ms)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        return (
            f"{len(ordered)} answered, {self.health_failures} failed; "
            f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms"
        )


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (from /proc)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS")
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def server_pid(port: int) -> int | None:
    """The pid listening on loopback ``port`` (the server process), from /proc/net/tcp."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # LISTEN
            inode = fields[9]
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in fd_dir.iterdir()):
                return int(fd_dir.parent.name)
        except (PermissionError, FileNotFoundError):
            continue
    return None


@contextmanager
def serve(index_dir: Path, key: str) -> Iterator[tuple[str, int | None]]:
    port = free_port()
    env = {**os.environ, "POLICYQA_API_KEY": key}
    with running_server(
        policyqa_command("serve", "--index-dir", str(index_dir), port=port), port=port, env=env
    ) as url:
        yield url, server_pid(port)


def bomb(url: str, pid: int | None, key: str, inflated_mib: int) -> None:
    started = time.perf_counter()
    data = hostile.docx_bomb(inflated_mib * MIB)
    made = time.perf_counter() - started
    idle_rss = tree_rss(pid) if pid else 0
    with Sampler(url, pid) as sampler, httpx.Client(base_url=url, timeout=600) as client:
        started = time.perf_counter()
        response = client.post("/documents", headers={"X-API-Key": key}, files={"file": ("bomb.docx", data)})
        seconds = time.perf_counter() - started
    size = len(data) / 1e6
    print(f"\n### Bomb: {size:.1f} MB .docx inflating to {inflated_mib:,} MiB (written in {made:.1f} s)\n")
    print("| | |\n|---|---|")
    print(f"| answer | {response.status_code} {response.json().get('detail', '')[:90]} |")
    print(f"| refused in | {seconds:.2f} s |")
    peak = sampler.peak_rss / MIB
    print(f"| server RSS (with children) | {idle_rss / MIB:,.0f} MiB before, peak {peak:,.0f} MiB |")
    print(f"| /health meanwhile | {sampler.health_summary()} |")


def storm(url: str, pid: int | None, asks: int, budget: float) -> None:
    questions = [query.question for query in load_queries(SEED_QUESTIONS)]
    questions = [questions[i % len(questions)] + ("" if i < len(questions) else "？") for i in range(asks)]
    barrier = threading.Barrier(asks)

    def ask(question: str) -> tuple[int, bool, float]:
        with httpx.Client(base_url=url, timeout=600) as client:
            barrier.wait()
            started = time.perf_counter()
            response = client.post("/ask", json={"question": question, "k": MAX_ASK_K})
            return response.status_code, "retry-after" in response.headers, time.perf_counter() - started

    with Sampler(url, pid) as sampler, ThreadPoolExecutor(asks) as pool:
        results = list(pool.map(ask, questions))
    statuses = [status for status, _retry, _seconds in results]
    slowest = max(seconds for *_rest, seconds in results)
    print(f"\n### Storm: {asks} concurrent POST /ask with k = {MAX_ASK_K}\n")
    print("| | |\n|---|---|")
    print(f"| answered (200) | {statuses.count(200)} |")
    retry = sum(1 for status, has_retry, _s in results if status == 503 and has_retry)
    print(f"| 503 with Retry-After | {retry} (503 without: {statuses.count(503) - retry}) |")
    print(f"| other statuses | {sorted(set(statuses) - {200, 503}) or 'none'} |")
    print(f"| slowest /ask | {slowest:.2f} s (budget {budget:g} s) |")
    print(f"| /health meanwhile | {sampler.health_summary()} |")


def checksums(index_dir: Path) -> None:
    version = store.current_version(index_dir)
    files = [path for path in sorted(version.rglob("*")) if path.is_file() and path.name != store.MANIFEST]
    total = sum(path.stat().st_size for path in files)
    print(f"\n### Checksums: version {version.name}, {len(files)} files, {total / 1e6:,.1f} MB\n")
    print("| hash | seconds (page cache warm) | MB/s |\n|---|---:|---:|")
    for name in ("sha256", "blake2b"):
        best = min(_time_hash(files, name) for _ in range(3))
        print(f"| {name} | {best:.3f} | {total / 1e6 / best:,.0f} |")
    for path in sorted(files, key=lambda p: -p.stat().st_size)[:3]:
        seconds = min(_time_hash([path], "sha256") for _ in range(3))
        size = path.stat().st_size / 1e6
        print(f"| sha256 of {path.relative_to(version)} ({size:,.1f} MB) | {seconds:.3f} | |")
    try:
        report = verify_index(index_dir)
        print(
            f"| policyqa index --verify (checksums, SQLite integrity, vectors) | {report['seconds']:.3f} | |"
        )
    except Exception as error:  # an index built before checksums: say so, keep the hash numbers
        print(f"| policyqa index --verify | {error} | |")


def _time_hash(files: list[Path], name: str) -> float:
    started = time.perf_counter()
    for path in files:
        with path.open("rb") as handle:
            hashlib.file_digest(handle, name)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--index-dir", type=Path, help="index to serve (default: POLICYQA_INDEX_DIR or the demo)"
    )
    parser.add_argument("--bomb-mib", type=int, default=1024, help="inflated size of the bomb (default 1024)")
    parser.add_argument("--asks", type=int, default=40, help="concurrent questions (default 40)")
    args = parser.parse_args(argv)
    settings = load_settings(index_dir=args.index_dir)
    index_dir = settings.resolved_index_dir
    key = secrets.token_hex(16)
    checksums(index_dir)
    with serve(index_dir, key) as (url, pid):
        bomb(url, pid, key, args.bomb_mib)
        storm(url, pid, args.asks, settings.request_budget_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
