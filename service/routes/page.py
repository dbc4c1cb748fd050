"""``GET /``: the search page (its script and style are served under /static)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(str(resources.files("policyqa.service") / "static"))

router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> FileResponse:
    """The single-page search UI."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")
