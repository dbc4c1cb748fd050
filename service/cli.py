"""``policyqa serve`` (build the demo index when there is none, then serve the API and the page) and
``policyqa ask`` (what POST /ask answers, from the shell)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import socket
from pathlib import Path

from policyqa.errors import PolicyQAError
from policyqa.indexer.cli import add_filter_arguments, add_store_arguments, filters_from_args, store_overrides
from policyqa.indexer.errors import ConfigurationError
from policyqa.service.answers import DEFAULT_ASK_K, MAX_ASK_K
from policyqa.service.settings import load_settings

logger = logging.getLogger(__name__)

BACKLOG = 2048  # uvicorn's default
STARTUP_FAILURE = 3  # uvicorn's exit code when the app fails to start


class CannotListenError(PolicyQAError):
    """The configured host and port cannot be bound."""


class PortInUseError(CannotListenError):
    """Another process listens on the configured port."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} is in use (set --port or POLICYQA_PORT)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``policyqa serve`` and ``policyqa ask``."""
    _add_ask_parser(subparsers)
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
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes sharing one loaded index (default: POLICYQA_WORKERS or 1)",
    )
    add_store_arguments(parser)
    parser.set_defaults(func=run_serve)


def _add_ask_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ask",
        help="answer a question with quotes from the indexed clauses (what POST /ask returns)",
        description="Answer a question in the documents' own words, each quote cited; --json prints exactly "
        "the JSON that POST /ask returns.",
    )
    parser.add_argument(
        "question", help="a question in plain Chinese, e.g. 高新区对新认定的孵化器有什么支持？"
    )
    parser.add_argument(
        "--index-dir", type=Path, help="index folder (default: POLICYQA_INDEX_DIR or HOME/index, the demo)"
    )
    parser.add_argument(
        "-k",
        type=int,
        default=DEFAULT_ASK_K,
        help=f"top clauses to quote from (default: {DEFAULT_ASK_K}, at most {MAX_ASK_K})",
    )
    add_filter_arguments(parser)
    add_store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the JSON of POST /ask instead of text")
    parser.set_defaults(func=run_ask)


def run_ask(args: argparse.Namespace) -> int:
    """Answer the question from the index and print the answer with its citations."""
    from policyqa.indexer.demo import ensure_demo_index
    from policyqa.indexer.index import PolicyIndex, validate_query
    from policyqa.service.answers import answerer_from_settings, ask, check_ask_k
    from policyqa.service.schemas import AskResponse

    settings = load_settings(index_dir=args.index_dir, **store_overrides(args))
    validate_query(args.question, "hybrid", args.k, settings.max_query_chars)  # before the slow load
    check_ask_k(args.k)
    index = PolicyIndex.load(ensure_demo_index(settings), settings)
    retrieval, answer = ask(
        index,
        answerer_from_settings(settings, index.embedder),
        args.question,
        min_relevance=settings.answer_min_relevance,
        k=args.k,
        filters=filters_from_args(args),
        home_region=args.home_region,
    )
    response = AskResponse.of(retrieval, answer)
    if args.json:
        print(response.model_dump_json(indent=2))
        return 0
    print(response.answer)
    print(f"（相关度 {response.confidence:.2f}）")
    for citation in response.citations:
        document = citation.document
        status = f"  [{citation.validity.status}]" if citation.validity is not None else ""
        where = f"《{document.title}》{document.subtitle or ''} {' › '.join(citation.path)}"
        print(f"[{citation.n}] {where}{status}")
        print(f"    {citation.quote}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Claim the port, ensure an index exists, then run uvicorn on that socket until interrupted."""
    import uvicorn

    from policyqa.indexer.demo import demo_index_needed, ensure_demo_index
    from policyqa.indexer.embedder import Embedder
    from policyqa.service.app import create_app

    settings = load_settings(
        index_dir=args.index_dir,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **store_overrides(args),
    )
    if settings.workers > 1 and settings.store == "milvus":
        # forked workers would share the master's gRPC channel, which does not survive a fork
        raise ConfigurationError(
            "--workers needs the folder store; with POLICYQA_STORE=milvus run several `policyqa serve` "
            "replicas instead (they share the collection)"
        )
    if settings.workers > 1:  # imported before any model loads: it sets the thread pools workers need
        from policyqa.service.workers import serve_workers
    # The socket is bound before the (possibly long) first-run build and handed to uvicorn, so a busy port
    # is reported at once and no other process can take it in between.
    with bind_socket(settings.host, settings.port) as sock:
        # First run: the model loaded to build the demo index also serves it (otherwise the app loads it
        # in the background, so /health answers at once).
        embedder = Embedder.from_settings(settings) if demo_index_needed(settings) else None
        index_dir = ensure_demo_index(settings, embedder=embedder)
        settings = settings.model_copy(update={"index_dir": index_dir})
        listen(sock, settings.port)
        print(f"policyqa: serving {index_dir} on http://{settings.host}:{settings.port}", flush=True)
        log_level = "info" if logging.getLogger().getEffectiveLevel() <= logging.INFO else "warning"
        app = create_app(settings, embedder=embedder)
        if settings.workers > 1:
            return serve_workers(app, app.state.service, sock, settings.workers, log_level)
        # access lines come from the app (policyqa.access, with the request id), not from uvicorn
        config = uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level=log_level, access_log=False
        )
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the server: a normal exit
            server.run(sockets=[sock])
    return 0 if server.started else STARTUP_FAILURE


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` as uvicorn binds one (not listening yet); PortInUseError
    if another process listens there, CannotListenError for any other reason.

    The protocol is named (``IPPROTO_TCP``, not 0): asyncio turns Nagle's algorithm off (TCP_NODELAY) only
    on connections of such a socket, and with it on, a response written as headers then body waited for the
    client's delayed ACK, 40 ms on every request."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise _listen_error(exc, host, port) from exc
    return sock


def listen(sock: socket.socket, port: int) -> None:
    """Start listening on ``sock``; PortInUseError if another process started listening on the port
    since it was bound (SO_REUSEADDR lets two sockets bind a port that nobody listens on yet)."""
    try:
        sock.listen(BACKLOG)
    except OSError as exc:
        host = sock.getsockname()[0]
        raise _listen_error(exc, host, port) from exc


def _listen_error(exc: OSError, host: str, port: int) -> CannotListenError:
    if exc.errno == errno.EADDRINUSE:
        return PortInUseError(port)
    return CannotListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
