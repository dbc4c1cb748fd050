"""The FastAPI application factory."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from policyqa.indexer.embedder import Embedder
from policyqa.service.admission import Admission
from policyqa.service.errors import install_error_handlers
from policyqa.service.limits import BodySizeLimit
from policyqa.service.metrics import ServiceMetrics
from policyqa.service.middleware import REQUEST_ID_HEADER, AllowOptions, RequestContext
from policyqa.service.routes import ask, chat, clauses, documents, health, page, retrieval, search
from policyqa.service.routes.page import STATIC_DIR
from policyqa.service.settings import ServiceSettings, load_settings
from policyqa.service.state import ServiceState
from policyqa.service.upload import remove_stale_upload_folders

DESCRIPTION = """政策文件条款级检索与问答。

* `GET /search` 条款检索（关键词 BM25、语义向量或混合），带高亮；
* `POST /ask` 抽取式问答，答案逐句引用原文条款（可带对话历史追问）；
* `POST /v1/chat/completions`、`GET /v1/models` 兼容 OpenAI 的对话接口，可作为聊天机器人后端；
* `POST /retrieval` Dify 外部知识库接口（`Authorization: Bearer`，见 POLICYQA_READ_API_KEYS）；
* `GET /clauses/{id}`、`GET /documents`、`GET /documents/{id}` 浏览条款与文件；
* `POST /documents`、`DELETE /documents/{id}` 增量更新索引（需 `X-API-Key`）。
"""


def create_app(settings: ServiceSettings | None = None, *, embedder: Embedder | None = None) -> FastAPI:
    """The service for ``settings`` (default: read from ``POLICYQA_*``), using ``embedder`` when given
    (else loading the configured model). The index is loaded by the lifespan in a background thread, so
    ``/health`` answers at once and ``/ready`` says when it is done."""
    settings = settings or load_settings()
    state = ServiceState(settings, embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        remove_stale_upload_folders()
        threading.Thread(target=state.load, name="policyqa-index-loader", daemon=True).start()
        yield

    # /docs and /redoc with Swagger UI and ReDoc served from the package, not a CDN (air-gapped intranets)
    app = FastAPIOffline(title="policyqa", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.service = state
    install_error_handlers(app)
    for module in (search, ask, chat, retrieval, clauses, documents, health, page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Middleware, innermost first (each add_middleware wraps the ones before): admission control sees only
    # bodies within the size limit; metrics count every answer, 413s and 503s included; every response
    # carries the request id.
    metrics = app.state.metrics = ServiceMetrics(state)
    app.add_middleware(Admission, limits=settings.admission_limits, on_reject=metrics.rejected_by)
    app.add_middleware(
        BodySizeLimit, max_json_bytes=settings.max_json_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    metrics.instrument(app)
    app.add_middleware(AllowOptions, router=app.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
        )
    app.add_middleware(RequestContext)
    return app
