"""HTTP load test: start a real ``policyqa serve`` on loopback and drive it with concurrent clients."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from policyqa.eval import server
from policyqa.eval.errors import EvalError
from policyqa.eval.metrics import percentile

REQUEST_TIMEOUT_S = 60.0

# endpoint name -> how one question becomes a request (method, path, httpx keyword arguments)
RequestBuilder = Callable[[str], tuple[str, str, dict]]
ENDPOINTS: dict[str, RequestBuilder] = {
    "/search": lambda question: ("GET", "/search", {"params": {"q": question, "k": 10}}),
    "/ask": lambda question: ("POST", "/ask", {"json": {"question": question}}),
}


@dataclass(frozen=True)
class LoadResult:
    """Throughput and latency of one endpoint under load."""

    endpoint: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_p99: float

    def as_dict(self) -> dict:
        return asdict(self)


def running_server(
    index_dir: Path, *, startup_timeout: float = 600.0, settings: Mapping[str, str] | None = None
) -> AbstractContextManager[tuple[str, subprocess.Popen]]:
    """``policyqa serve --index-dir … --port <free>`` in a subprocess (with ``settings``, e.g.
    ``{"POLICYQA_QUERY_CACHE_SIZE": "0"}``, added to the environment), as a context manager that yields its
    URL and process once ready and stops it on exit (see :func:`policyqa.eval.server.running_process`)."""
    port = server.free_port()
    command = server.policyqa_command("serve", "--index-dir", str(index_dir), port=port)
    env = {**os.environ, **settings} if settings else None
    return server.running_process(command, port=port, env=env, startup_timeout=startup_timeout)


def load_test(
    base_url: str, endpoint: str, questions: list[str], *, concurrency: int, duration: float
) -> LoadResult:
    """``concurrency`` clients send requests back to back for ``duration`` seconds, cycling through
    ``questions``; a request that fails or answers with status >= 400 counts as an error."""
    _check(endpoint, questions)
    cycled = itertools.cycle(questions).__next__
    deadline = time.perf_counter() + duration

    def next_question() -> str | None:
        return cycled() if time.perf_counter() < deadline else None

    return asyncio.run(_load(base_url, endpoint, next_question, concurrency))


def send_each(base_url: str, endpoint: str, questions: list[str], *, concurrency: int) -> LoadResult:
    """Every question sent once, by ``concurrency`` clients (e.g. to fill the server's query cache before a
    timed run); errors counted as in :func:`load_test`."""
    _check(endpoint, questions)
    remaining = iter(questions)
    return asyncio.run(_load(base_url, endpoint, lambda: next(remaining, None), concurrency))


def _check(endpoint: str, questions: list[str]) -> None:
    if endpoint not in ENDPOINTS:
        raise EvalError(f"unknown endpoint {endpoint!r}; choose one of {', '.join(ENDPOINTS)}")
    if not questions:
        raise EvalError("no questions to send")


async def _load(
    base_url: str, endpoint: str, next_question: Callable[[], str | None], concurrency: int
) -> LoadResult:
    """Clients send ``next_question()`` back to back until it gives None."""
    build_request = ENDPOINTS[endpoint]
    latencies_ms: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while (question := next_question()) is not None:
            method, path, options = build_request(question)
            started = time.perf_counter()
            try:
                response = await client.request(method, path, **options)
                failed = response.status_code >= 400
            except httpx.HTTPError:
                failed = True
            latencies_ms.append((time.perf_counter() - started) * 1000)
            errors += failed

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(
        endpoint=endpoint,
        concurrency=concurrency,
        seconds=elapsed,
        requests=len(latencies_ms),
        errors=errors,
        requests_per_second=len(latencies_ms) / elapsed,
        latency_ms_p50=percentile(latencies_ms, 50),
        latency_ms_p95=percentile(latencies_ms, 95),
        latency_ms_p99=percentile(latencies_ms, 99),
    )
