"""Request size limits: the body size of every request (text lengths are checked by the index)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policyqa.service.errors import error_response

UPLOAD_PATH = "/documents"
MULTIPART_OVERHEAD = 16 * 1024  # boundaries and part headers around the uploaded file


class BodySizeLimit:
    """ASGI middleware: a 413 JSON error for bodies over the limit (uploads get a larger one), checked
    against Content-Length up front and against the bytes actually received."""

    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_upload_bytes: int):
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = scope["path"] == UPLOAD_PATH and scope["method"] == "POST"
        limit = self.max_upload_bytes + MULTIPART_OVERHEAD if is_upload else self.max_json_bytes
        what = f"upload limit of {self.max_upload_bytes}" if is_upload else f"request body limit of {limit}"
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(scope, send, f"request body of {declared} bytes is over the {what} bytes")
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(f"request body is over the {what} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge as error:
            if response_started:
                raise
            await _too_large(scope, send, error.detail)


class _BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing passes it on to the JSON error handler."""

    def __init__(self, detail: str):
        super().__init__(status_code=413, detail=detail)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(scope: Scope, send: Send, detail: str) -> None:
    status, payload = error_response(scope["path"], 413, detail, code="request_too_large")
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
