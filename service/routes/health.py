"""``GET /health`` (the process answers) and ``GET /ready`` (the index is loaded)."""

from __future__ import annotations

import os

from fastapi import APIRouter

from policyqa.service.deps import StateDep
from policyqa.service.schemas import Health, Ready, error_responses

router = APIRouter(tags=["health"])


# Both answer on the event loop (async, nothing blocking): never queued behind searches in worker threads.
@router.get("/health", operation_id="health", response_model=Health)
async def health() -> Health:
    """Liveness: always ok while the process serves requests."""
    return Health(status="ok")


@router.get("/ready", operation_id="ready", response_model=Ready, responses=error_responses(503))
async def ready(state: StateDep) -> Ready:
    """Readiness: 503 until the index is loaded (or with the reason it could not be)."""
    index = state.live.current
    manifest = index.manifest
    return Ready(
        status="ready",
        documents=int(manifest["documents"]),
        clauses=int(manifest["clauses"]),
        model=index.embedder.model_id,
        built_at=manifest.get("built_at"),
        pid=os.getpid(),
    )
