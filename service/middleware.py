"""Cross-cutting HTTP behaviour: request ids and access logs, headers every response carries, and answers to
``OPTIONS`` (the body and admission limits are in ``limits.py`` and ``admission.py``)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.routing import Match, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Every response: no MIME sniffing, no full URLs (with their queries) sent to other sites.
COMMON_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

access_log = logging.getLogger("policyqa.access")


class RequestContext:
    """ASGI middleware: each request gets an id — the client's ``X-Request-ID`` when it is a short token,
    else a new one — echoed in the response and carried by its access log line (``policyqa.access``, info:
    ``policyqa -v serve``) and by any error logged for it (``request.state.request_id``)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it responds

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
                    *COMMON_HEADERS,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _CLIENT_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


class AllowOptions:
    """ASGI middleware: a plain ``OPTIONS`` request (not a CORS preflight, which the CORS middleware answers
    when origins are configured) gets 204 with ``Allow`` listing the path's methods, instead of 405."""

    def __init__(self, app: ASGIApp, *, router: Router):
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods = self._methods(scope)
            if methods:
                allow = ", ".join(sorted(methods | {"OPTIONS"}))
                await send(
                    {"type": "http.response.start", "status": 204, "headers": [(b"allow", allow.encode())]}
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)

    def _methods(self, scope: Scope) -> set[str]:
        """The methods some route answers at this path (asked of each route, whatever its kind)."""
        methods: set[str] = set()
        for route in self.router.routes:
            if isinstance(route, Mount):  # static files: matched whatever the method, served to GET and HEAD
                if route.matches(scope)[0] == Match.FULL:
                    methods |= {"GET", "HEAD"}
                continue
            methods |= {
                method for method in _METHODS if route.matches({**scope, "method": method})[0] == Match.FULL
            }
        return methods
