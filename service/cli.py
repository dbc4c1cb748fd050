"""``policyqa serve``: build the demo index when there is none, then serve the API and the page."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from policyqa.service.settings import load_settings

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``policyqa serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the search API and page (builds the demo index first when there is none)",
        description="Serve the search API and page; with no index yet, build the demo index first.",
    )
    parser.add_argument(
        "--index-dir", type=Path, help="index folder (default: POLICYQA_INDEX_DIR or HOME/index)"
    )
    parser.add_argument("--host", help="interface to bind (default: POLICYQA_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default: POLICYQA_PORT or 8000)")
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Ensure an index exists, then run uvicorn until interrupted."""
    import uvicorn

    from policyqa.indexer.demo import demo_index_needed, ensure_demo_index
    from policyqa.indexer.embedder import Embedder
    from policyqa.service.app import create_app

    settings = load_settings(index_dir=args.index_dir, host=args.host, port=args.port)
    # First run: the model loaded to build the demo index also serves it (otherwise the app loads it
    # in the background, so /health answers at once).
    embedder = Embedder.from_settings(settings) if demo_index_needed(settings) else None
    index_dir = ensure_demo_index(settings, embedder=embedder)
    settings = settings.model_copy(update={"index_dir": index_dir})
    print(f"policyqa: serving {index_dir} on http://{settings.host}:{settings.port}", flush=True)
    log_level = "info" if logging.getLogger().getEffectiveLevel() <= logging.INFO else "warning"
    app = create_app(settings, embedder=embedder)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
    return 0
