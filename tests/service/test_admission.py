"""Admission control, deterministically: the real middleware in front of a small ASGI app whose handlers
block until the test lets them go, so that "busy" means busy, not "probably busy on this machine"."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from policyqa.service.admission import Admission, AdmissionLimits


def blocking_app(gate: asyncio.Event, entered: asyncio.Queue) -> Starlette:
    async def work(request: Request) -> JSONResponse:
        body = await request.body()
        await entered.put(request.url.path)
        await gate.wait()
        deadline = request.state.deadline if request.url.path in ("/ask", "/search") else None
        return JSONResponse({"body": body.decode(), "budget": deadline.seconds if deadline else None})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/ask", work, methods=["POST"]),
            Route("/search", work, methods=["GET"]),
            Route("/documents", work, methods=["POST"]),
            Route("/documents/{id}", work, methods=["DELETE"]),
            Route("/health", health),
        ]
    )


def client(
    limits: AdmissionLimits, rejected: list[str]
) -> tuple[httpx.AsyncClient, asyncio.Event, asyncio.Queue]:
    """An HTTP client of the middleware (``client.admission``), the gate that releases blocked handlers and
    the queue of paths whose handlers were entered."""
    gate, entered = asyncio.Event(), asyncio.Queue()
    admission = Admission(blocking_app(gate, entered), limits=limits, on_reject=rejected.append)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=admission), base_url="http://policyqa")
    http.admission = admission
    return http, gate, entered


async def until(condition) -> None:
    """Yield to the event loop until ``condition()`` holds (no fixed sleeps)."""
    while not condition():
        await asyncio.sleep(0)


def test_heavy_requests_beyond_running_and_queued_are_503_with_retry_after() -> None:
    async def scenario() -> None:
        rejected: list[str] = []
        limits = AdmissionLimits(max_running=1, max_queued=1, budget_seconds=60, max_pending_writes=1)
        http, gate, entered = client(limits, rejected)
        async with http:
            running = asyncio.create_task(http.post("/ask", json={"question": "一"}))
            assert await entered.get() == "/ask"  # holds the only slot
            queued = asyncio.create_task(http.get("/search", params={"q": "二"}))
            await until(lambda: http.admission.heavy_in_flight == 2)  # queued: the slot is taken
            refused = await http.post("/ask", json={"question": "三"})
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert "the server is busy: 1 requests running and 1 waiting" in refused.json()["detail"]
            assert rejected == ["saturated"]
            assert (await http.get("/health")).status_code == 200  # never queued
            assert entered.empty()  # the queued search still waits
            gate.set()
            first, second = await running, await queued
        assert first.status_code == second.status_code == 200
        assert first.json() == {"body": '{"question":"一"}', "budget": 60}  # the body was read, then replayed

    asyncio.run(scenario())


def test_a_request_that_waits_out_its_budget_is_503() -> None:
    async def scenario() -> None:
        rejected: list[str] = []
        limits = AdmissionLimits(max_running=1, max_queued=4, budget_seconds=0.2, max_pending_writes=1)
        http, gate, entered = client(limits, rejected)
        async with http:
            running = asyncio.create_task(http.post("/ask", json={"question": "一"}))
            await entered.get()
            waited = await http.get("/search", params={"q": "二"})  # the slot is never freed in time
            gate.set()
            await running
        assert waited.status_code == 503 and waited.headers["retry-after"] == "1"
        assert "waited its whole time budget of 0.2 s" in waited.json()["detail"]
        assert rejected == ["budget"]

    asyncio.run(scenario())


def test_pending_writes_are_bounded() -> None:
    async def scenario() -> None:
        rejected: list[str] = []
        limits = AdmissionLimits(max_running=4, max_queued=4, budget_seconds=60, max_pending_writes=1)
        http, gate, entered = client(limits, rejected)
        async with http:
            upload = asyncio.create_task(http.post("/documents", content=b"x"))
            await entered.get()
            delete = await http.delete("/documents/abc")
            search = asyncio.create_task(http.get("/search", params={"q": "三"}))  # reads are not writes
            assert await entered.get() == "/search"
            gate.set()
            assert (await upload).status_code == (await search).status_code == 200
        assert (
            delete.status_code == 503 and "1 index updates are already in progress" in delete.json()["detail"]
        )
        assert rejected == ["writes"]

    asyncio.run(scenario())


@pytest.mark.parametrize("path", ["/health", "/documents/abc"])
def test_other_requests_pass_untouched(path: str) -> None:
    async def scenario() -> int:
        http, gate, _entered = client(AdmissionLimits(1, 0, 60, 1), [])
        gate.set()
        async with http:
            return (await http.get(path)).status_code

    assert asyncio.run(scenario()) in (200, 405)
