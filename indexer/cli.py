"""``policyqa index`` (build an index from files and folders) and ``policyqa search`` (query it)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from policyqa.indexer.records import SEARCH_MODES, Hit, SearchFilters
from policyqa.indexer.settings import IndexSettings, load_settings
from policyqa.indexer.vector_store import ANN_TYPES

SNIPPET_CHARS = 120
_SPACE = re.compile(r"\s+")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``policyqa index`` and ``policyqa search``."""
    index = subparsers.add_parser("index", help="build an index from document files and folders")
    index.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders (recursive)")
    index.add_argument("--index-dir", type=Path, help="index folder (default: POLICYQA_HOME/index)")
    index.add_argument("--model", help="'default' or a sentence-transformers model name or path")
    index.add_argument(
        "--ann", choices=ANN_TYPES, help="vector index: flat (exact, default), hnsw or ivf (approximate)"
    )
    index.set_defaults(func=run_index)

    search = subparsers.add_parser("search", help="search an index for the clauses that answer a query")
    search.add_argument("query", help="question or keywords, e.g. 创业孵化机构能拿到哪些扶持")
    search.add_argument("--index-dir", type=Path, help="index folder (default: HOME/index, the demo)")
    search.add_argument("--mode", choices=SEARCH_MODES, default="hybrid", help="retriever (default: hybrid)")
    search.add_argument("-k", type=int, default=10, help="number of clauses (default: 10)")
    search.add_argument("--document", metavar="ID", help="only clauses of this document (its id)")
    search.add_argument("--region", help="only documents of this region")
    search.add_argument("--issuer", help="only documents of this issuer")
    search.add_argument("--doc-type", help="only documents of this type (意见, 通知, 办法, 条例…)")
    search.add_argument("--date-from", metavar="YYYY-MM-DD", help="only documents dated on or after")
    search.add_argument("--date-to", metavar="YYYY-MM-DD", help="only documents dated on or before")
    search.add_argument(
        "--home-region",
        metavar="PLACE",
        help="where the asker is (江苏, 苏州市): its documents never step back; default POLICYQA_HOME_REGION",
    )
    search.add_argument("--json", action="store_true", help="print JSON instead of text")
    search.set_defaults(func=run_search)


def _settings(args: argparse.Namespace) -> IndexSettings:
    return load_settings(**{name: getattr(args, name, None) for name in ("index_dir", "model", "ann")})


def run_index(args: argparse.Namespace) -> int:
    """Build the index and print a summary."""
    from policyqa.indexer.index import build_index

    settings = _settings(args)
    manifest = build_index(args.paths, settings.resolved_index_dir, settings)
    print(
        f"indexed {manifest['documents']} documents, {manifest['clauses']} clauses, "
        f"{manifest['passages']} passages in {manifest['seconds']:.1f} s → {settings.resolved_index_dir} "
        f"(model {manifest['model']}, ann {manifest['ann']})"
    )
    if manifest["skipped"]:
        print(f"skipped {len(manifest['skipped'])} files:")
        for entry in manifest["skipped"]:
            print(f"  {entry['path']}: {entry['reason']}")
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Search and print the hits as text or JSON."""
    from policyqa.indexer.demo import ensure_demo_index
    from policyqa.indexer.index import PolicyIndex, validate_query

    settings = _settings(args)
    validate_query(args.query, args.mode, args.k, settings.max_query_chars)  # before the slow load
    index = PolicyIndex.load(ensure_demo_index(settings), settings)
    filters = SearchFilters(
        document_id=args.document,
        region=args.region,
        issuer=args.issuer,
        doc_type=args.doc_type,
        date_from=args.date_from,
        date_to=args.date_to,
    )
    hits = index.search(args.query, mode=args.mode, k=args.k, filters=filters, home_region=args.home_region)
    if args.json:
        payload = {"query": args.query, "mode": args.mode, "hits": [hit_json(hit) for hit in hits]}
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        _print_hits(args.query, hits)
    return 0


def hit_json(hit: Hit) -> dict:
    """The JSON form of a hit."""
    document = hit.document
    return {
        "clause_id": hit.clause.id,
        "score": hit.score,
        "document": {
            "id": document.id,
            "title": document.title,
            "subtitle": document.subtitle,
            "date": document.date,
            "issuer": document.issuer,
            "doc_number": document.doc_number,
        },
        "path": list(hit.clause.path),
        "number": hit.clause.number,
        "heading": hit.clause.heading,
        "text": hit.clause.text,
        "ranks": hit.ranks,
        "scores": hit.scores,
    }


def _print_hits(query: str, hits: list[Hit]) -> None:
    if not hits:
        print(f"no clause found for {query!r}")
        return
    for rank, hit in enumerate(hits, start=1):
        snippet = _SPACE.sub(" ", hit.clause.text).strip()
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS] + "…"
        print(f"{rank:>2}. {hit.score:.4f}  {hit.document.cited_title} {' › '.join(hit.clause.path)}")
        print(f"    {snippet}")
