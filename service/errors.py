"""HTTP errors: the service's own error types and the ONE place that maps every error to a status code.

Every error response is ``{"detail": "<message>"}``; unexpected exceptions are logged and become a
plain 500 ``{"detail": "internal error"}`` (no traceback leaves the server).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from policyqa.corpus.errors import DocumentError
from policyqa.errors import PolicyQAError
from policyqa.indexer.errors import (
    EmbeddingCacheError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidQueryError,
    ModelLoadError,
    NothingToIndexError,
    UnknownIdError,
)

logger = logging.getLogger(__name__)


class NotReadyError(PolicyQAError):
    """The index is not loaded (yet, or it failed to load)."""


class WritesDisabledError(PolicyQAError):
    """No API key is configured, so the write endpoints are off."""

    def __init__(self) -> None:
        super().__init__("write endpoints are disabled: set POLICYQA_API_KEY")


class BadApiKeyError(PolicyQAError):
    """The X-API-Key header is missing or wrong."""

    def __init__(self) -> None:
        super().__init__("missing or wrong X-API-Key header")


class UnsupportedFileTypeError(PolicyQAError):
    """An upload whose file type the parser does not handle."""


class PayloadTooLargeError(PolicyQAError):
    """A request body or upload over the configured limit."""


STATUS_BY_ERROR: dict[type[PolicyQAError], int] = {
    InvalidQueryError: 422,
    DocumentError: 422,
    NothingToIndexError: 422,
    UnknownIdError: 404,
    BadApiKeyError: 401,
    WritesDisabledError: 403,
    PayloadTooLargeError: 413,
    UnsupportedFileTypeError: 415,
    NotReadyError: 503,
    IndexNotFoundError: 503,
    IndexMismatchError: 503,
    IndexCorruptError: 503,
    ModelLoadError: 503,
    EmbeddingCacheError: 503,
}


def status_of(error: PolicyQAError) -> int:
    """The status code of a domain error: the nearest mapped class in its MRO, else 400."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into ``{"detail": "..."}``."""
    app.add_exception_handler(PolicyQAError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _domain_error(request: Request, error: PolicyQAError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=status_of(error))


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": validation_message(error)}, status_code=422)


def validation_message(error: RequestValidationError) -> str:
    """``field: problem`` for each invalid input, e.g. ``k: Input should be less than or equal to 100``."""
    messages = []
    for problem in error.errors():
        location = ".".join(
            str(part) for part in problem.get("loc", ()) if part not in ("query", "body", "path", "header")
        )
        messages.append(
            f"{location}: {problem.get('msg', 'invalid')}" if location else problem.get("msg", "")
        )
    return "; ".join(messages) or "invalid request"


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": str(error.detail)}, status_code=error.status_code, headers=error.headers)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.error(
        "unexpected error", extra={"path": request.url.path, "error": f"{type(error).__name__}: {error}"}
    )
    return JSONResponse({"detail": "internal error"}, status_code=500)
