"""``Annotated`` dependency aliases the routes declare their needs with."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from policyqa.indexer import PolicyIndex
from policyqa.indexer.tokenizer import Tokenizer
from policyqa.service.answers import Answerer
from policyqa.service.budget import Deadline
from policyqa.service.errors import (
    BadApiKeyError,
    MissingReadKeyError,
    WritesDisabledError,
    WrongReadKeyError,
)
from policyqa.service.live_index import LiveIndex
from policyqa.service.metrics import ServiceMetrics
from policyqa.service.settings import ServiceSettings
from policyqa.service.state import ServiceState

logger = logging.getLogger(__name__)


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


def get_settings(state: Annotated[ServiceState, Depends(get_state)]) -> ServiceSettings:
    return state.settings


def get_live(state: Annotated[ServiceState, Depends(get_state)]) -> LiveIndex:
    return state.live


def get_index(live: Annotated[LiveIndex, Depends(get_live)]) -> PolicyIndex:
    """The index this request reads from, fixed for the whole request."""
    return live.current


def get_answerer(state: Annotated[ServiceState, Depends(get_state)]) -> Answerer:
    return state.answerer


def get_tokenizer(state: Annotated[ServiceState, Depends(get_state)]) -> Tokenizer:
    return state.tokenizer


def get_deadline(request: Request) -> Deadline | None:
    """The request's time budget, set by admission control for heavy requests (None otherwise)."""
    return getattr(request.state, "deadline", None)


def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


def require_api_key(
    settings: Annotated[ServiceSettings, Depends(get_settings)],
    x_api_key: Annotated[str | None, Header(description="the configured POLICYQA_API_KEY")] = None,
) -> None:
    """Write access: 403 when no key is configured, 401 when the header is missing or wrong."""
    if not settings.api_key:
        raise WritesDisabledError()
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), settings.api_key.encode()):
        raise BadApiKeyError()


# Declared in OpenAPI (components.securitySchemes.HTTPBearer), so OpenAPI tool servers ask for a key
bearer = HTTPBearer(
    auto_error=False, description="one of POLICYQA_READ_API_KEYS; not needed when none is configured"
)


def require_read_key(
    request: Request,
    settings: Annotated[ServiceSettings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Read access for machines: open when POLICYQA_READ_API_KEYS is unset; otherwise MissingReadKeyError
    without a well-formed ``Authorization: Bearer <key>`` and WrongReadKeyError for a key that is none of
    them. Every configured key is compared, each in constant time; keys are never logged."""
    keys = settings.read_api_keys
    if not keys:
        return
    if credentials is None:
        _refused(request, "missing or malformed Authorization header")
        raise MissingReadKeyError()
    given = credentials.credentials.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.get_secret_value().encode())
    if not matched:
        _refused(request, "wrong key")
        raise WrongReadKeyError()


def _refused(request: Request, reason: str) -> None:
    logger.info(
        "read key refused",
        extra={
            "path": request.url.path,
            "reason": reason,
            "request_id": getattr(request.state, "request_id", None),
        },
    )


StateDep = Annotated[ServiceState, Depends(get_state)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
LiveDep = Annotated[LiveIndex, Depends(get_live)]
IndexDep = Annotated[PolicyIndex, Depends(get_index)]
TokenizerDep = Annotated[Tokenizer, Depends(get_tokenizer)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]
DeadlineDep = Annotated[Deadline | None, Depends(get_deadline)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
WriteAccess = Depends(require_api_key)
ReadAccess = Depends(require_read_key)
