"""HTTP errors: the service's own error types and the ONE place that maps every error to a status code.

Every error response is ``{"detail": "<message>"}`` with no filesystem path in it (the index folder, the
home folder and the temporary folder are shown as ``<index_dir>``, ``<home>``, ``<tmp>``); unexpected
exceptions are logged and become a plain 500 ``{"detail": "internal error"}`` (no traceback leaves the
server). An overload (too many heavy requests, or one over its time budget) is a 503 with ``Retry-After``.
Under ``/v1/`` (the OpenAI-compatible routes) the same errors take OpenAI's shape,
``{"error": {"message", "type", "code"}}``, and an invalid request is 400 as OpenAI answers it (not 422).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from policyqa.corpus.errors import DocumentError, DocumentTooLargeError
from policyqa.errors import PolicyQAError
from policyqa.indexer.errors import (
    EmbeddingCacheError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexWriteError,
    InvalidQueryError,
    ModelLoadError,
    NothingToIndexError,
    StorageFullError,
    StoreUnavailableError,
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


class MissingReadKeyError(PolicyQAError):
    """Read keys are configured and the request has no well-formed ``Authorization: Bearer <key>``."""

    def __init__(self) -> None:
        super().__init__("Invalid Authorization header format. Expected 'Bearer <api-key>' format.")


class WrongReadKeyError(PolicyQAError):
    """The Bearer key is none of the configured read keys."""

    def __init__(self) -> None:
        super().__init__("Authorization failed")


class UnsupportedFileTypeError(PolicyQAError):
    """An upload whose file type the parser does not handle."""


class PayloadTooLargeError(PolicyQAError):
    """A request body or upload over the configured limit."""


class InvalidFileNameError(PolicyQAError):
    """An upload whose file name cannot be used (a NUL character, not well-formed Unicode)."""


class OverloadedError(PolicyQAError):
    """The server cannot take this request now; the client may retry after ``retry_after`` seconds."""

    retry_after = 1


class SaturatedError(OverloadedError):
    """Every slot for heavy requests is busy and the queue is full."""


class BudgetExceededError(OverloadedError):
    """A request ran (or waited) longer than its time budget and was abandoned."""


class UnknownModelError(PolicyQAError):
    """A chat completion asked for a model this service does not serve."""

    code = "model_not_found"


STATUS_BY_ERROR: dict[type[PolicyQAError], int] = {
    InvalidQueryError: 422,
    InvalidFileNameError: 422,
    DocumentError: 422,
    DocumentTooLargeError: 413,
    NothingToIndexError: 422,
    UnknownIdError: 404,
    BadApiKeyError: 401,
    MissingReadKeyError: 401,
    WrongReadKeyError: 401,
    WritesDisabledError: 403,
    PayloadTooLargeError: 413,
    UnsupportedFileTypeError: 415,
    NotReadyError: 503,
    IndexNotFoundError: 503,
    IndexMismatchError: 503,
    IndexCorruptError: 503,
    ModelLoadError: 503,
    EmbeddingCacheError: 503,
    IndexWriteError: 503,
    StoreUnavailableError: 503,
    StorageFullError: 507,
    OverloadedError: 503,
    UnknownModelError: 404,
}

OPENAI_PATH_PREFIX = "/v1/"
# The error ``type`` OpenAI's clients read, by status; 5xx are ``server_error``.
OPENAI_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


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


def retry_after_headers(error: PolicyQAError) -> dict[str, str] | None:
    """``Retry-After`` for an overload, nothing for other errors."""
    return {"Retry-After": str(error.retry_after)} if isinstance(error, OverloadedError) else None


def without_paths(message: str, folders: Iterable[Path]) -> str:
    """``message`` with each of ``folders`` (and the temporary folder) replaced by a placeholder: the
    server's filesystem layout is no business of its clients."""
    placeholders = {str(Path(tempfile.gettempdir())): "<tmp>"}
    for name, folder in zip(("<index_dir>", "<home>"), folders, strict=False):
        for form in (str(folder), str(Path(folder).resolve())):
            placeholders[form] = name
    for path in sorted(placeholders, key=len, reverse=True):
        if path not in ("", "/", "."):
            message = message.replace(path, placeholders[path])
    return message


def public_message(request: Request, error: Exception) -> str:
    """The message of ``error`` as a response may show it (no filesystem paths)."""
    state = getattr(request.app.state, "service", None)
    folders = (state.settings.resolved_index_dir, state.settings.home) if state is not None else ()
    return without_paths(str(error), folders)


def error_response(
    path: str, status: int, message: str, *, code: str | None = None
) -> tuple[int, dict[str, object]]:
    """The status and body of an error for a request to ``path``: ``{"detail"}``, or under ``/v1/``
    OpenAI's ``{"error": {"message", "type", "code"}}`` with 422 answered as 400."""
    if not path.startswith(OPENAI_PATH_PREFIX):
        return status, {"detail": message}
    status = 400 if status == 422 else status
    kind = "server_error" if status >= 500 else OPENAI_ERROR_TYPES.get(status, "invalid_request_error")
    return status, {"error": {"message": message, "type": kind, "code": code}}


def json_error(
    request: Request,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``error_response`` as a JSONResponse."""
    status, body = error_response(request.url.path, status, message, code=code)
    return JSONResponse(body, status_code=status, headers=headers)


async def _domain_error(request: Request, error: PolicyQAError) -> JSONResponse:
    return json_error(
        request,
        status_of(error),
        public_message(request, error),
        code=getattr(error, "code", None),
        headers=retry_after_headers(error),
    )


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    return json_error(request, 422, validation_message(error))


def validation_message(error: RequestValidationError) -> str:
    """``field: problem`` for each invalid input, e.g. ``k: Input should be less than or equal to 100``."""
    messages = []
    for problem in error.errors():
        where, *parts = problem.get("loc", ()) or ("",)  # where: query, body, path or header
        location = ".".join(str(part) for part in parts) or (where if where == "body" else "")
        messages.append(
            f"{location}: {problem.get('msg', 'invalid')}" if location else problem.get("msg", "")
        )
    return "; ".join(messages) or "invalid request"


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return json_error(request, error.status_code, str(error.detail), headers=error.headers)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.error(
        "unexpected error",
        extra={
            "path": request.url.path,
            "request_id": getattr(request.state, "request_id", None),
            "error": f"{type(error).__name__}: {error}",
        },
    )
    return json_error(request, 500, "internal error")
