"""Admission control: bounded work in flight, so that no burst of expensive requests can take the server
down or stall its health checks.

Heavy requests (``GET /search``, ``POST /ask``, ``POST /v1/chat/completions``,
``POST /retrieval``) run at most
``POLICYQA_MAX_CONCURRENT_REQUESTS`` at a time; up to ``POLICYQA_MAX_QUEUED_REQUESTS`` more wait for a
slot — on the event loop, holding no worker thread — and any beyond that are answered at once with 503 and
``Retry-After``. A request that is still waiting when its time budget (``POLICYQA_REQUEST_BUDGET_SECONDS``,
from arrival) runs out gets the same 503; the budget then travels with the request
(``request.state.deadline``) for the work to check. Writes (``POST``/``DELETE /documents``) take turns
behind the index's writer lock; at most ``POLICYQA_MAX_PENDING_WRITES`` may be in flight. Everything else
(``/health``, ``/ready``, lookups, ``/metrics``) is never queued.

A JSON body is read before a slot is taken, so a client that sends its body slowly holds a connection,
not a slot.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policyqa.service.budget import Deadline
from policyqa.service.errors import OverloadedError, error_response

HEAVY_ROUTES = frozenset(
    {("GET", "/search"), ("POST", "/ask"), ("POST", "/v1/chat/completions"), ("POST", "/retrieval")}
)
WRITE_PATH = "/documents"


@dataclass(frozen=True)
class AdmissionLimits:
    """How many heavy requests run and wait, how long each may take, how many writes may be pending."""

    max_running: int
    max_queued: int
    budget_seconds: float
    max_pending_writes: int


class Admission:
    """ASGI middleware applying :class:`AdmissionLimits`; ``on_reject(reason)`` is told of every 503
    (``saturated``, ``budget`` or ``writes``)."""

    def __init__(self, app: ASGIApp, *, limits: AdmissionLimits, on_reject: Callable[[str], None]):
        self.app = app
        self.limits = limits
        self.on_reject = on_reject
        self._slots = asyncio.Semaphore(limits.max_running)
        self._heavy_in_flight = 0
        self._writes_in_flight = 0

    @property
    def heavy_in_flight(self) -> int:
        """Heavy requests running or waiting for a slot."""
        return self._heavy_in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif (scope["method"], scope["path"]) in HEAVY_ROUTES:
            await self._heavy(scope, receive, send)
        elif scope["method"] in ("POST", "DELETE") and (
            scope["path"] == WRITE_PATH or scope["path"].startswith(WRITE_PATH + "/")
        ):
            await self._write(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _heavy(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = Deadline.after(self.limits.budget_seconds, time.monotonic())
        if self._heavy_in_flight >= self.limits.max_running + self.limits.max_queued:
            await self._reject(
                scope,
                send,
                "saturated",
                f"the server is busy: {self.limits.max_running} requests running and "
                f"{self.limits.max_queued} waiting; try again shortly",
            )
            return
        self._heavy_in_flight += 1
        try:
            receive = await _buffered(receive) if scope["method"] == "POST" else receive
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=max(deadline.remaining(), 0))
            except TimeoutError:
                await self._reject(
                    scope,
                    send,
                    "budget",
                    f"the request waited its whole time budget of {self.limits.budget_seconds:g} s for a "
                    "free slot; try again shortly",
                )
                return
            try:
                scope.setdefault("state", {})["deadline"] = deadline
                await self.app(scope, receive, send)
            finally:
                self._slots.release()
        finally:
            self._heavy_in_flight -= 1

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._writes_in_flight >= self.limits.max_pending_writes:
            await self._reject(
                scope,
                send,
                "writes",
                f"{self.limits.max_pending_writes} index updates are already in progress; try again shortly",
            )
            return
        self._writes_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._writes_in_flight -= 1

    async def _reject(self, scope: Scope, send: Send, reason: str, detail: str) -> None:
        self.on_reject(reason)
        status, payload = error_response(scope["path"], 503, detail, code="overloaded")
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(OverloadedError.retry_after).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _buffered(receive: Receive) -> Receive:
    """Read the whole request body now; the returned ``receive`` replays it, then listens on."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
